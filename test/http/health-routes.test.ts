import { describe, expect, it } from 'vitest';
import { startGateway } from '../helpers/gateway.js';
import { playDemo } from '../helpers/media.js';

describe('/healthz and /metrics', () => {
  it('reports health and the live-call count', async () => {
    const gateway = await startGateway();
    try {
      expect(await gateway.get('/healthz')).toEqual({
        status: 200,
        body: { status: 'ok', liveCalls: 0, overload: { overloaded: false } },
      });
    } finally {
      await gateway.close();
    }
  });

  it('exposes Prometheus counters per track, malformed messages by reason, and event-loop lag', async () => {
    const gateway = await startGateway();
    try {
      await playDemo(gateway, 'greeting', { impair: { inbound: { drop: [20, 21] } } });
      const { status, body } = await gateway.get('/metrics');
      expect(status).toBe(200);
      const text = body as string;
      expect(text).toContain('voxline_calls_live 0');
      expect(text).toContain('voxline_calls_ended_total{reason="stop"} 1');
      expect(text).toContain('voxline_media_frames_total{track="inbound"} 248');
      expect(text).toContain('voxline_media_frames_total{track="outbound"} 250');
      expect(text).toContain('voxline_gap_filled_ms_total{track="inbound"} 40');
      expect(text).toContain('voxline_gap_filled_ms_total{track="outbound"} 0');
      expect(text).toContain('voxline_frames_dropped_total{track="inbound"} 0');
      expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds \d/m);
      expect(text).toContain('# TYPE voxline_malformed_messages_total counter');
    } finally {
      await gateway.close();
    }
  });
});
