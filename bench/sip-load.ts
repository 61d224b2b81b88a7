/**
 * SIP next to Twilio: how many RTP packets one core takes for N concurrent calls.
 *
 * The real app (bench/load-server.ts, SIP on) runs pinned to core 0; this process, on core 1,
 * sets up N SIPREC recording sessions (two streams each, as an SBC forks caller and agent) with
 * real INVITE/200/ACK exchanges, then sends each stream a 20 ms PCMU packet every 20 ms (real
 * speech from media/, calls spread over the 20 ms cycle): 100 packets a second per call, the same
 * message rate as a two-leg Twilio call. Reported as bench/load.ts reports the Twilio path:
 * event-loop lag, CPU, memory per call, and packet → AudioFrame latency (one packet per second
 * per stream timed on the shared monotonic clock); plus the packet rate and any send lag of this
 * generator (if it cannot keep pace, the row says so).
 */
import { createSocket } from 'node:dgram';
import { buildRtp } from '../src/carriers/sip/rtp.js';
import { sipCallSid } from '../src/carriers/sip/sip-ids.js';
import { demoLegs, machine } from './lib.js';
import { ask, type LoadStep, loadTable, startBenchServer, stepResult } from './load.js';
import { freePortSync } from './ports.js';

const STEPS = (process.env.STEPS ?? '100,500,1000').split(',').map(Number);
const MEASURE_MS = Number(process.env.MEASURE_MS ?? 10_000);
const WARM_MS = Number(process.env.WARM_MS ?? 3_000);

export interface SipLoadStep extends LoadStep {
  packetsPerSecond: number;
}

function siprecInvite(callId: string, sipPort: number, localPort: number, mediaPort: number): Buffer {
  const sdp = [
    'v=0',
    'o=bench 1 1 IN IP4 127.0.0.1',
    's=-',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${mediaPort} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=label:1',
    'a=sendonly',
    `m=audio ${mediaPort} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    'a=label:2',
    'a=sendonly',
    '',
  ].join('\r\n');
  const body = `--b\r\nContent-Type: application/sdp\r\n\r\n${sdp}\r\n--b--\r\n`;
  return Buffer.from(
    [
      `INVITE sip:srs@127.0.0.1:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-${callId}`,
      `From: <sip:src@127.0.0.1>;tag=src-${callId}`,
      `To: <sip:srs@127.0.0.1:${sipPort}>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:src@127.0.0.1:${localPort}>;+sip.src`,
      'Require: siprec',
      'Content-Type: multipart/mixed;boundary=b',
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n'),
  );
}

function ack(callId: string, toHeader: string, sipPort: number, localPort: number): Buffer {
  return Buffer.from(
    [
      `ACK sip:srs@127.0.0.1:${sipPort} SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=z9hG4bK-ack-${callId}`,
      `From: <sip:src@127.0.0.1>;tag=src-${callId}`,
      `To: ${toHeader}`,
      `Call-ID: ${callId}`,
      'CSeq: 1 ACK',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

function bye(callId: string, toHeader: string, sipPort: number, localPort: number): Buffer {
  return Buffer.from(
    ack(callId, toHeader, sipPort, localPort)
      .toString()
      .replace(/^ACK/, 'BYE')
      .replace('branch=z9hG4bK-ack-', 'branch=z9hG4bK-bye-')
      .replace('CSeq: 1 ACK', 'CSeq: 2 BYE'),
  );
}

interface SipSimCall {
  callId: string;
  callSid: string;
  ports: [number, number];
  phaseMs: number;
  sent: number;
  /** The first frame index sent: RTP timestamps (and so voxline's timeline) start at 0 there. */
  first: number;
  toHeader: string;
}

export async function benchSipLoad(steps = STEPS): Promise<SipLoadStep[]> {
  const sipPort = freePortSync();
  const { server } = await startBenchServer('bench/load-server.ts', {
    SIP_PORT: String(sipPort),
    SIP_BIND: '127.0.0.1',
    SIP_RTP_PORTS: '20000-60000',
    SIP_MAX_CALLS: '100000',
  });
  const legs = demoLegs();
  const frames = Math.floor(legs.caller.length / 160);
  const signalling = createSocket('udp4');
  await new Promise<void>((resolve) => signalling.bind(0, '127.0.0.1', resolve));
  const media = createSocket('udp4');
  await new Promise<void>((resolve) => media.bind(0, '127.0.0.1', resolve));
  media.on('message', () => undefined); // a recorder sends nothing, but drain anything
  const localPort = signalling.address().port;
  const answers = new Map<string, (reply: string) => void>();
  let byes: (callId: string) => void = () => undefined;
  signalling.on('message', (data) => {
    const text = data.toString();
    const callId = /\r\nCall-ID: ([^\r]+)/i.exec(text)?.[1];
    if (!callId || !text.startsWith('SIP/2.0 200')) return;
    if (/\r\nCSeq: 2 BYE/i.test(text)) byes(callId);
    else answers.get(callId)?.(text);
  });

  await ask(server, 'reset');
  const baseline = await ask(server, 'report');
  const results: SipLoadStep[] = [];
  let nextCall = 0;
  for (const n of steps) {
    const calls: SipSimCall[] = [];
    const sentAt = new Map<string, bigint>();
    let sendLagMaxMs = 0;
    let packets = 0;
    const t0 = performance.now();
    let running = true;
    const tick = () => {
      if (!running) return;
      const now = performance.now();
      for (const call of calls) {
        const due = Math.floor((now - t0 - call.phaseMs) / 20) + 1;
        if (due - call.sent > 1) sendLagMaxMs = Math.max(sendLagMaxMs, (due - call.sent - 1) * 20);
        for (; call.sent < due; call.sent++) {
          const k = call.sent - call.first;
          const i = k % frames;
          for (const [s, audio] of [legs.caller, legs.agent].entries()) {
            const packet = buildRtp(0, k, k * 160, 0x5000 + s, audio.subarray(i * 160, i * 160 + 160));
            if ((k * 20) % 1000 === 0)
              sentAt.set(
                `${call.callSid}|${s === 0 ? 'inbound' : 'outbound'}|${k * 20}`,
                process.hrtime.bigint(),
              );
            media.send(packet, call.ports[s], '127.0.0.1');
            packets++;
          }
        }
      }
      setTimeout(tick, 1);
    };
    for (let i = 0; i < n; i++) {
      const callId = `bench-${++nextCall}@127.0.0.1`;
      const invite = siprecInvite(callId, sipPort, localPort, media.address().port);
      const reply = await new Promise<string>((resolve) => {
        // Resent every 500 ms until answered, as a UAC does over UDP.
        const resend = setInterval(() => signalling.send(invite, sipPort, '127.0.0.1'), 500);
        answers.set(callId, (text) => {
          clearInterval(resend);
          resolve(text);
        });
        signalling.send(invite, sipPort, '127.0.0.1');
      });
      answers.delete(callId);
      const ports = [...reply.matchAll(/m=audio (\d+)/g)].map((m) => Number(m[1])) as [number, number];
      const to = /\r\nTo: ([^\r]+)/i.exec(reply)?.[1] as string;
      signalling.send(ack(callId, to, sipPort, localPort), sipPort, '127.0.0.1');
      const elapsed = performance.now() - t0;
      const sent = Math.floor(elapsed / 20);
      calls.push({
        callId,
        callSid: sipCallSid(callId, 'SRS'),
        ports,
        phaseMs: (i * 20) / n,
        sent,
        first: sent,
        toHeader: to,
      });
      if (i === 0) tick();
    }
    await new Promise((resolve) => setTimeout(resolve, WARM_MS));
    sendLagMaxMs = 0;
    sentAt.clear();
    await ask(server, 'reset');
    const packetsBefore = packets;
    const measureStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
    const report = await ask(server, 'report');
    const packetsPerSecond = ((packets - packetsBefore) * 1000) / (performance.now() - measureStart);
    running = false;
    results.push({ ...stepResult(n, report, baseline, sentAt, sendLagMaxMs), packetsPerSecond });
    console.error(
      `  sip, ${n} calls: ${packetsPerSecond.toFixed(0)} packets/s, lag p99 ${report.lagP99Ms.toFixed(1)} ms, CPU ${report.cpuPercent.toFixed(0)} %`,
    );
    // Hang up as a phone would: BYE, resent until its 200 comes (a burst can overflow a UDP buffer).
    const open = new Set(calls.map((c) => c.callId));
    byes = (callId) => open.delete(callId);
    for (let round = 0; round < 10 && open.size > 0; round++) {
      for (const call of calls) {
        if (open.has(call.callId))
          signalling.send(bye(call.callId, call.toHeader, sipPort, localPort), sipPort, '127.0.0.1');
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    if (open.size > 0) console.error(`  ${open.size} BYEs never answered`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  server.send({ cmd: 'exit' });
  signalling.close();
  media.close();
  return results;
}

export function sipLoadTable(results: readonly SipLoadStep[]): string {
  const table = loadTable(results).split('\n');
  table[0] = `${table[0]} RTP packets/s | generator send lag max |`;
  table[1] = `${table[1]}---|---|`;
  for (const [i, r] of results.entries()) {
    table[i + 2] = `${table[i + 2]} ${r.packetsPerSecond.toFixed(0)} | ${r.sendLagMaxMs.toFixed(0)} ms |`;
  }
  return table.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(`SIP load (${machine()}): server pinned to core 0, load generator to core 1`);
  console.log(sipLoadTable(await benchSipLoad()));
  process.exit(0);
}
