import { loadConfig } from '../../src/config.js';
import { isVoxlineError } from '../../src/errors.js';

/** The VL_ERR_CONFIG message loadConfig gives for `env` (fails the test if it loads). */
export function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    if (isVoxlineError(err, 'VL_ERR_CONFIG')) return err.message;
    throw err;
  }
  throw new Error('expected a configuration error');
}
