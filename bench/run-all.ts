/**
 * npm run bench: every benchmark in one run, printed as the tables docs/benchmarks.md shows.
 * Takes about 7 minutes. STEPS=… overrides the load steps (calls per step, comma-separated).
 */

import { hasPostgres } from '../test/helpers/postgres.js';
import { agentTurnTable, benchAgentTurns } from './agent-turn.js';
import { benchConversion } from './conversion.js';
import { benchEngineLatency, engineLatencyTable } from './engine-latency.js';
import { machine } from './lib.js';
import { benchLoad, loadTable } from './load.js';
import { benchMediaHandler } from './media-handler.js';
import { benchOutbox, outboxTable } from './outbox.js';
import { benchOutboxCluster, outboxClusterTable } from './outbox-cluster.js';
import { benchRedaction, redactionTable } from './redaction.js';
import { benchSipLoad, sipLoadTable } from './sip-load.js';
import { benchStoreLoad, storeLoadTable } from './stores.js';
import { benchVad, vadTable } from './vad.js';

const steps = (process.env.STEPS ?? '100,500,900,1000,1250').split(',').map(Number);

console.log(`Machine: ${machine()}; ${new Date().toISOString().slice(0, 10)}\n`);

const handler = benchMediaHandler();
const conversion = benchConversion();
console.log('| measure | result |');
console.log('|---|---|');
console.log(
  `| media handler, floor (JSON.parse + base64 of the same messages) | ${handler.floorNs.toFixed(0)} ns/message |`,
);
console.log(
  `| media handler, protocol path (parse, validate, align) | ${handler.protocolNs.toFixed(0)} ns = **${handler.protocolRatio.toFixed(2)}× floor** |`,
);
console.log(
  `| media handler, whole session path incl. conversion and delivery | ${handler.fullNs.toFixed(0)} ns = ${handler.fullRatio.toFixed(2)}× floor |`,
);
console.log(
  `| audio conversion, μ-law 8 kHz → PCM16 16 kHz, 20 ms chunks | **${conversion.timesRealTime.toFixed(0)}× real time** on one core |`,
);

console.error('load: voxline…');
const voxline = await benchLoad(steps, 'voxline');
console.error('load: floor…');
const floor = await benchLoad(
  steps.filter((n) => n >= 500),
  'floor',
);
console.log('\nvoxline (two-leg calls at real-time pace, server on one core):\n');
console.log(loadTable(voxline.results));
console.log('\nfloor: a bare ws server that only parses, same load:\n');
console.log(loadTable(floor.results));
console.error('load: SIP…');
console.log('\nSIP: N SIPREC sessions (two RTP streams each, 100 packets/s per call), server on one core:\n');
console.log(sipLoadTable(await benchSipLoad(steps)));

console.error('engine latency…');
console.log('\ngateway-added latency, voxline on one core:\n');
console.log(engineLatencyTable(await benchEngineLatency()));
console.error('redaction…');
console.log('\nredaction (REDACT=all) on the corpora under test/fixtures/redaction/:\n');
console.log(redactionTable(await benchRedaction()));
console.error('VAD…');
console.log('\nVAD (Silero v5) and segmentation:\n');
console.log(vadTable(await benchVad(64, 4)));
// A quiet phone line (−53 dBFS of noise) without the level gate (digital silence only), then with it.
for (const gateDbfs of [-60, -50]) {
  console.log(
    vadTable(await benchVad(64, 4, 1, 128, gateDbfs))
      .split('\n')
      .slice(2)
      .join('\n'),
  );
}
console.error('webhook outbox…');
console.log('\nwebhook outbox:\n');
console.log(outboxTable(await benchOutbox()));
console.error('stores under transcribed load, and several instances…');
console.log('\nevent-loop lag with each store:\n');
console.log(storeLoadTable(await benchStoreLoad()));
if (hasPostgres) {
  console.log('\ndelivery, instances sharing one PostgreSQL:\n');
  console.log(outboxClusterTable(await benchOutboxCluster()));
}
console.error('agent turns…');
console.log("\nvoice agent, voxline's own share of each turn (engine, LLM and TTS answer instantly):\n");
console.log(agentTurnTable(await benchAgentTurns()));
process.exit(0);
