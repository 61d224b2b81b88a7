import { availableParallelism } from 'node:os';
import type { AgentConfig } from '../agent-config.js';
import { FliteTts } from './flite-tts.js';
import { KokoroTts } from './kokoro-tts.js';
import { OpenAiTts } from './openai-tts.js';
import type { TextToSpeech } from './tts.js';

/** The TTS engine TTS_ENGINE names, with its defaults. */
export function createTts(config: AgentConfig): TextToSpeech {
  const { tts } = config;
  if (tts.engine === 'openai') {
    return new OpenAiTts({
      baseUrl: tts.baseUrl,
      apiKey: tts.apiKey,
      model: tts.model ?? 'tts-1',
      voice: tts.voice ?? 'alloy',
      timeoutMs: config.llm.timeoutMs,
    });
  }
  if (tts.engine === 'kokoro') {
    return new KokoroTts({
      model: tts.model ?? 'onnx-community/Kokoro-82M-v1.0-ONNX',
      voice: tts.voice ?? 'af_heart',
      dtype: 'q8',
    });
  }
  // One core stays free for the event loop that carries every call's audio.
  return new FliteTts({
    voice: tts.voice ?? 'slt',
    workers: Math.max(1, Math.min(4, availableParallelism() - 1)),
  });
}
