import { describe, expect, it } from 'vitest';
import { DtmfSender } from '../../../src/carriers/sip/dtmf-sender.js';

/** Drains `n` packet times: a key packet's first bytes, or '-' where the stream sends its audio. */
function drain(sender: DtmfSender, n: number): string[] {
  return Array.from({ length: n }, () => {
    const p = sender.next();
    return p ? `${p.payload[0]}${p.payload[1] & 0x80 ? 'E' : ''}${p.start ? 'M' : ''}` : '-';
  });
}

describe('DtmfSender (RFC 4733 key presses, pure)', () => {
  it('two keys: tone, three ends, a 60 ms gap, the next key; resolves after the last end', async () => {
    const sender = new DtmfSender();
    let done = false;
    const sent = sender.send('5*').then(() => {
      done = true;
    });
    expect(drain(sender, 11)).toEqual(['5M', '5', '5', '5', '5', '5E', '5E', '5E', '-', '-', '-']);
    expect(drain(sender, 7)).toEqual(['10M', '10', '10', '10', '10', '10E', '10E']);
    await Promise.resolve();
    expect(done).toBe(false);
    expect(drain(sender, 1)).toEqual(['10E']);
    await sent;
    expect(sender.idle).toBe(true);
    expect(drain(sender, 2)).toEqual(['-', '-']);
  });

  it('refuses what is not a key, and more than 64 keys waiting; abort fails what waits', async () => {
    const sender = new DtmfSender();
    await expect(sender.send('12x')).rejects.toMatchObject({ code: 'VL_ERR_CALL_CONTROL_FAILED' });
    await expect(sender.send('')).rejects.toMatchObject({ code: 'VL_ERR_CALL_CONTROL_FAILED' });
    const first = sender.send('1'.repeat(32));
    const second = sender.send('2'.repeat(32));
    await expect(sender.send('3')).rejects.toThrow('too many keys waiting');
    sender.abort('the call ended');
    await expect(first).rejects.toThrow('the call ended');
    await expect(second).rejects.toThrow('the call ended');
    expect(sender.idle).toBe(true);
    const again = sender.send('3');
    drain(sender, 8);
    await expect(again).resolves.toBeUndefined();
  });
});
