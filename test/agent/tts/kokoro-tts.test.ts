import { describe, expect, it } from 'vitest';
import { KokoroTts } from '../../../src/agent/tts/kokoro-tts.js';
import { isVoxlineError } from '../../../src/errors.js';

describe('KokoroTts (optional: kokoro-js is not a dependency)', () => {
  it('fails clearly, saying what to install, when kokoro-js is not installed', async () => {
    const tts = new KokoroTts({
      model: 'onnx-community/Kokoro-82M-v1.0-ONNX',
      voice: 'af_heart',
      dtype: 'q8',
    });
    await expect(tts.load()).rejects.toSatisfy(
      (err) => isVoxlineError(err, 'VL_ERR_TTS_FAILED') && /npm install kokoro-js/.test(err.message),
    );
    // Not cached: a later sentence tries again (e.g. once the package is installed).
    await expect(tts.load()).rejects.toThrow(/npm install kokoro-js/);
  });
});
