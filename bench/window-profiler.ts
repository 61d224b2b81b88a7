import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/**
 * PROFILE_DIR=dir: a bench server writes a CPU profile of each measurement window there (from the
 * `reset` that starts it to the `report` that ends it), for chrome://inspect or speedscope.
 */
export function windowProfiler(dir: string | undefined): { start(): Promise<void>; stop(): Promise<void> } {
  if (!dir) return { start: async () => undefined, stop: async () => undefined };
  const session = new Session();
  session.connect();
  const enabled = session.post('Profiler.enable');
  let windows = 0;
  return {
    start: async () => {
      await enabled;
      await session.post('Profiler.start');
    },
    stop: async () => {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${dir}/window-${++windows}.cpuprofile`, JSON.stringify(profile));
    },
  };
}
