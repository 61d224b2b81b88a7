/**
 * npm run token:new -- <name> <scope+scope>: prints a new random API token and the API_TOKENS
 * entry that admits it. The token is shown once, here; voxline keeps only its SHA-256.
 */

import { accessConfigFrom } from './access-config.js';
import { newApiToken } from './api-tokens.js';
import { SCOPES, type Scope } from './scopes.js';

const [name = '', scopeList = ''] = process.argv.slice(2);
const { token, entry } = newApiToken(name, scopeList.split('+') as Scope[]); // checked just below
// The entry is checked as loadConfig will check it (name, scopes), so what is printed is accepted.
const { problems } = accessConfigFrom({
  API_TOKENS: entry,
  AUDIT_MAX_ENTRIES: 1_000,
  CALL_RETENTION_DAYS: 1,
});
if (!name || !scopeList || problems.length > 0) {
  process.stderr.write(
    `${problems.map((p) => `${p}\n`).join('')}usage: npm run token:new -- <name> <scopes>\n  scopes: ${SCOPES.join(', ')}, joined with "+" (e.g. read+recordings)\n`,
  );
  process.exit(2);
}
process.stdout.write(
  `token (give it to the client; it is not shown again):\n  ${token}\nAPI_TOKENS entry (comma-separate several):\n  ${entry}\n`,
);
