/**
 * voxline's own cost per Twilio media message, side by side with the floor in one run: the same N
 * two-leg calls at real-time pace (bench/load.ts: server pinned to core 0, generator to core 1)
 * into (1) the floor, a bare ws server that only JSON.parses and base64-decodes each message;
 * (2) voxline with transcription off (ASR_ENGINE=none: conversion, recording, call store);
 * (3) voxline with transcription on: the VAD, the vLLM engine against a sink that writes words
 * (bench/engine-sink.ts), transcript events and recording. The metric is process CPU (user +
 * system, every thread) over the media messages offered in the measured window; calls per core
 * is what that cost allows at 100 messages a second per call. Lag is each server's own.
 */
import { startEngineSink } from './engine-sink.js';
import { machine } from './lib.js';
import { benchLoad, type LoadStep } from './load.js';

const MEASURE_MS = Number(process.env.MEASURE_MS ?? 10_000);
/** Two tracks, a message every 20 ms each. */
const MESSAGES_PER_CALL_SECOND = 100;

export interface MessageCost {
  readonly name: string;
  readonly step: LoadStep;
  /** Process CPU per media message, µs. */
  readonly cpuUsPerMessage: number;
  /** Two-leg calls one core holds at that cost (CPU only; lag is in the step). */
  readonly callsPerCore: number;
}

function cost(name: string, step: LoadStep): MessageCost {
  const messagesPerSecond = step.calls * MESSAGES_PER_CALL_SECOND;
  const cpuUsPerMessage = ((step.cpuPercent / 100) * 1e6) / messagesPerSecond;
  return { name, step, cpuUsPerMessage, callsPerCore: 1e6 / (cpuUsPerMessage * MESSAGES_PER_CALL_SECOND) };
}

export async function benchPerMessage(calls = Number(process.env.CALLS ?? 60)): Promise<MessageCost[]> {
  const floor = (await benchLoad([calls], 'floor')).results[0];
  const off = (await benchLoad([calls], 'voxline')).results[0];
  const sink = await startEngineSink({ words: true });
  const on = (await benchLoad([calls], 'engine', { VLLM_URL: sink.url, VAD_ENABLED: 'true' })).results[0];
  sink.close();
  return [
    cost('floor (JSON.parse + base64)', floor),
    cost('voxline, transcription off', off),
    cost('voxline, transcription on (VAD + vLLM engine + events)', on),
  ];
}

export function perMessageTable(rows: readonly MessageCost[]): string {
  const floor = rows[0].cpuUsPerMessage;
  return [
    `| ${rows[0].step.calls} two-leg calls | CPU per media message | × the floor | of it on the main thread | calls per core at that cost | event-loop lag p99 | RSS per call |`,
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.cpuUsPerMessage.toFixed(1)} µs | ${(r.cpuUsPerMessage / floor).toFixed(2)}× | ${((100 * r.step.mainThreadPercent) / r.step.cpuPercent).toFixed(0)} % | ${Math.floor(r.callsPerCore)} | ${r.step.lagP99Ms.toFixed(1)} ms | ${r.step.rssPerCallKiB.toFixed(0)} KiB |`,
    ),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`CPU per media message (${machine()}), ${MEASURE_MS / 1000} s measured per server, one run`);
  console.log(perMessageTable(await benchPerMessage()));
  process.exit(0);
}
