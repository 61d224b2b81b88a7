/** npm run docs:config: writes the configuration reference into docs/configuration.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIG_REFERENCE_PATH, withConfigReference } from './config-reference.js';

const before = readFileSync(CONFIG_REFERENCE_PATH, 'utf8');
const after = withConfigReference(before);
if (after !== before) writeFileSync(CONFIG_REFERENCE_PATH, after);
process.stdout.write(`docs/configuration.md ${after === before ? 'is up to date' : 'written'}\n`);
