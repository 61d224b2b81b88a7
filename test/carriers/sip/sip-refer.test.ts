import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { referTarget, sipfragStatus } from '../../../src/carriers/sip/sip-refer.js';

describe('REFER helpers (pure)', () => {
  it('a number is sent to the far end’s host as user=phone; a SIP URI as it is', () => {
    expect(referTarget('+15550001111', 'sip:peer@10.0.0.5:5070;transport=udp')).toBe(
      'sip:+15550001111@10.0.0.5:5070;user=phone',
    );
    expect(referTarget('5551234', 'sip:[2001:db8::1]:5060')).toBe(
      'sip:5551234@[2001:db8::1]:5060;user=phone',
    );
    expect(referTarget('sip:desk@pbx.example.com', 'sip:peer@10.0.0.5')).toBe('sip:desk@pbx.example.com');
  });

  it('refuses what would break out of Refer-To: <…> (VL_ERR_CALL_CONTROL_FAILED)', () => {
    for (const bad of ['sip:a@b>;x=1', 'sip:a@b\r\nX: 1', 'sip:"a"@b', 'call me', '12'])
      expect(() => referTarget(bad, 'sip:peer@10.0.0.5')).toThrow(
        expect.objectContaining({ code: 'VL_ERR_CALL_CONTROL_FAILED' }),
      );
  });

  it('reads a sipfrag status line; anything else is no status, and nothing throws', () => {
    expect(sipfragStatus(Buffer.from('SIP/2.0 200 OK\r\n'))).toEqual({ status: 200, reason: 'OK' });
    expect(sipfragStatus(Buffer.from('SIP/2.0 486 Busy Here'))).toEqual({ status: 486, reason: 'Busy Here' });
    expect(sipfragStatus(Buffer.from('SIP/2.0 100'))).toEqual({ status: 100, reason: '' });
    expect(sipfragStatus(Buffer.from('HTTP/1.1 200 OK'))).toBeUndefined();
    expect(sipfragStatus(Buffer.alloc(0))).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const frag = sipfragStatus(Buffer.from(bytes));
        if (frag) expect(frag.reason.length).toBeLessThanOrEqual(100);
      }),
    );
  });
});
