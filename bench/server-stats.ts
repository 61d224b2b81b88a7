import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * CPU time of the main thread alone (the event loop), ms, from /proc (Linux; 0 elsewhere). The
 * rest of process.cpuUsage() is worker threads (the VAD's, the model's), GC helpers and libuv's pool.
 */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the parenthesised name: state is 3rd, utime 14th and stime 15th (in clock ticks).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/**
 * What a benchmarked server process reports to bench/load.ts over IPC: event-loop lag, CPU and
 * memory since the last `reset`. Both load-server.ts (voxline) and floor-server.ts use it.
 */
export interface ServerStatsHooks {
  liveCalls(): number;
  onReset?(): void | Promise<void>;
  /** Extra fields for the report (e.g. frame timings). */
  extra?(): Record<string, unknown> | Promise<Record<string, unknown>>;
  onExit(): void;
}

export function reportStatsOverIpc(hooks: ServerStatsHooks): void {
  const lag = monitorEventLoopDelay({ resolution: 1 });
  lag.enable();
  let cpuStart = process.cpuUsage();
  let mainStart = mainThreadCpuMs();
  let wallStart = performance.now();

  process.on('message', async (message: { cmd: string }) => {
    if (message.cmd === 'reset') {
      await hooks.onReset?.();
      lag.reset();
      cpuStart = process.cpuUsage();
      mainStart = mainThreadCpuMs();
      wallStart = performance.now();
      process.send?.({ cmd: 'reset' });
    } else if (message.cmd === 'report') {
      const cpu = process.cpuUsage(cpuStart);
      const mainMs = mainThreadCpuMs() - mainStart;
      const wallMs = performance.now() - wallStart;
      const extra = (await hooks.extra?.()) ?? {};
      globalThis.gc?.(); // --expose-gc: memory after collection, not before
      const memory = process.memoryUsage();
      process.send?.({
        cmd: 'report',
        liveCalls: hooks.liveCalls(),
        lagP50Ms: lag.percentile(50) / 1e6,
        lagP99Ms: lag.percentile(99) / 1e6,
        lagMaxMs: lag.max / 1e6,
        cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / wallMs,
        userPercent: (100 * cpu.user) / 1000 / wallMs,
        mainThreadPercent: (100 * mainMs) / wallMs,
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        external: memory.external + memory.arrayBuffers,
        samples: [],
        ...extra,
      });
    } else if (message.cmd === 'exit') {
      hooks.onExit();
    }
  });
  process.send?.({ cmd: 'ready' });
}
