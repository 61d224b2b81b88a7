import { describe, expect, it } from 'vitest';
import type { ModelInstance } from '../../../src/asr/local/model-instance.js';
import { ModelScheduler } from '../../../src/asr/local/model-scheduler.js';

/** A stand-in for a loaded model: jobs here never call it, only the scheduler's bookkeeping does. */
function fakeModel(name: string, disposed: string[]): ModelInstance {
  return {
    usable: true,
    generate: () => {
      throw new Error('not used');
    },
    dispose: async () => {
      disposed.push(name);
    },
  };
}

/** A job that runs until the test lets it finish, recording which model ran it. */
function gate() {
  let open: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('ModelScheduler: every leg on the loaded models, oldest utterance first', () => {
  it('runs utterances from several legs one at a time on one instance, in the order they came, loading once', async () => {
    let loads = 0;
    const scheduler = new ModelScheduler(1, async () => fakeModel(`m${++loads}`, []));
    const order: string[] = [];
    const gates = ['caller-1', 'agent-1', 'caller-2'].map((name) => ({ name, ...gate() }));
    const done = gates.map(
      ({ name, opened }) =>
        scheduler.submit(async () => {
          order.push(`start ${name}`);
          await opened;
          order.push(`end ${name}`);
        }).done,
    );
    await settle();
    expect(order).toEqual(['start caller-1']);
    expect(scheduler.running).toBe(1);
    expect(scheduler.queued).toBe(2);
    for (const g of gates) {
      g.open();
      await settle();
    }
    await Promise.all(done);
    expect(order).toEqual([
      'start caller-1',
      'end caller-1',
      'start agent-1',
      'end agent-1',
      'start caller-2',
      'end caller-2',
    ]);
    expect(loads).toBe(1);
    expect(scheduler.state).toEqual({ state: 'ready' });
  });

  it('with two instances runs two utterances at once, and loads the second only when it is needed', async () => {
    let loads = 0;
    const scheduler = new ModelScheduler(2, async () => fakeModel(`m${++loads}`, []));
    const first = gate();
    const a = scheduler.submit(() => first.opened);
    await settle();
    expect(loads).toBe(1);
    const second = gate();
    const b = scheduler.submit(() => second.opened);
    await settle();
    expect(loads).toBe(2);
    expect(scheduler.running).toBe(2);
    const c = scheduler.submit(async () => undefined);
    await settle();
    expect(scheduler.queued).toBe(1);
    second.open();
    await b.done;
    await c.done;
    first.open();
    await a.done;
    expect(loads).toBe(2);
  });

  it('takes a cancelled utterance out of the queue without running it (its leg closed)', async () => {
    const scheduler = new ModelScheduler(1, async () => fakeModel('m', []));
    const held = gate();
    const running = scheduler.submit(() => held.opened);
    let ran = false;
    const queued = scheduler.submit(async () => {
      ran = true;
    });
    await settle();
    queued.cancel();
    await queued.done;
    expect(scheduler.queued).toBe(0);
    held.open();
    await running.done;
    expect(ran).toBe(false);
  });

  it('tells the running and the queued utterances why no model could load, and tries again for a later one', async () => {
    let attempt = 0;
    const scheduler = new ModelScheduler(1, async () => {
      attempt++;
      if (attempt === 1) throw new Error('no network');
      return fakeModel('m', []);
    });
    const a = scheduler.submit(async () => undefined);
    const b = scheduler.submit(async () => undefined);
    await expect(a.done).rejects.toThrow('no network');
    await expect(b.done).rejects.toThrow('no network');
    expect(scheduler.state).toEqual({ state: 'failed', error: 'no network' });
    let ran = false;
    await scheduler.submit(async () => {
      ran = true;
    }).done;
    expect(ran).toBe(true);
    expect(attempt).toBe(2);
  });

  it('gives the model back after an utterance that throws, so the next one runs', async () => {
    const scheduler = new ModelScheduler(1, async () => fakeModel('m', []));
    const failing = scheduler.submit(async () => {
      throw new Error('generation failed');
    });
    let ran = false;
    const next = scheduler.submit(async () => {
      ran = true;
    });
    await expect(failing.done).rejects.toThrow('generation failed');
    await next.done;
    expect(ran).toBe(true);
    expect(scheduler.running).toBe(0);
  });

  it('closes after the running generation stops, frees every model, tells queued work it will not run, and refuses new work', async () => {
    const disposed: string[] = [];
    const scheduler = new ModelScheduler(1, async () => fakeModel('m', disposed));
    const held = gate();
    const running = scheduler.submit(() => held.opened);
    let queuedRan = false;
    const queued = scheduler.submit(async () => {
      queuedRan = true;
    });
    await settle();
    const closing = scheduler.close();
    await settle();
    expect(disposed).toEqual([]); // a model freed mid-generation would crash
    held.open();
    await closing;
    await running.done;
    // Not resolved as if it had run: its leg reports the utterance lost (engine_unavailable).
    await expect(queued.done).rejects.toThrow('closed before this utterance had its turn');
    expect(queuedRan).toBe(false);
    expect(disposed).toEqual(['m']);
    await expect(scheduler.submit(async () => undefined).done).rejects.toThrow('closed');
  });

  it('preloads one instance at start, which the first utterance then uses', async () => {
    let loads = 0;
    const scheduler = new ModelScheduler(1, async () => fakeModel(`m${++loads}`, []));
    await scheduler.preload();
    expect(scheduler.state).toEqual({ state: 'ready' });
    await scheduler.submit(async () => undefined).done;
    expect(loads).toBe(1);
  });
});

describe('ModelScheduler with an instance that dies while free (its worker stopped)', () => {
  it('forgets it and runs the next job on a newly loaded one, the job not failed', async () => {
    const instances: { usable: boolean; name: string }[] = [];
    const scheduler = new ModelScheduler(1, async () => {
      const instance = {
        ...fakeModel(`m${instances.length + 1}`, []),
        usable: true,
        name: `m${instances.length + 1}`,
      };
      instances.push(instance);
      return instance;
    });
    const ran: string[] = [];
    await scheduler.submit(async (model) => {
      ran.push((model as unknown as { name: string }).name);
    }).done;
    instances[0].usable = false; // the worker died between utterances
    await scheduler.submit(async (model) => {
      ran.push((model as unknown as { name: string }).name);
    }).done;
    expect(ran).toEqual(['m1', 'm2']);
    expect(instances).toHaveLength(2);
    await scheduler.close();
  });
});
