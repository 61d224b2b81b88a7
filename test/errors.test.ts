import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS, isVoxlineError, VoxlineError } from '../src/errors.js';

const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('are all documented in docs/errors.md, with their HTTP status, and it lists no others', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      const row = DOC.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      expect(row, code).toBeDefined();
      if (code !== 'VL_ERR_CONFIG') expect(row, code).toContain(`| ${spec.status} |`);
    }
    const documented = [...DOC.matchAll(/^\| `(VL_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(ERRORS).sort());
  });

  it('carry their code, status, retryability and a message with the detail', () => {
    const err = new VoxlineError('VL_ERR_CAPACITY', 'limit is 3');
    expect(err).toMatchObject({
      code: 'VL_ERR_CAPACITY',
      statusCode: 503,
      retryable: true,
      name: 'VoxlineError',
    });
    expect(err.message).toBe('too many live calls: limit is 3');
    expect(isVoxlineError(err)).toBe(true);
    expect(isVoxlineError(err, 'VL_ERR_DRAINING')).toBe(false);
    expect(isVoxlineError(new Error('x'))).toBe(false);
  });
});
