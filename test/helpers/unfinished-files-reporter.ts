import type { Reporter, TestModule } from 'vitest/node';

/**
 * Names the test files that started but never finished. When a worker dies (SIGKILL, out of
 * memory, a native crash) Vitest fails the run with "Worker exited unexpectedly" but says not
 * whose worker it was; this reporter prints those files and sets a failing exit code itself.
 */
export default class UnfinishedFilesReporter implements Reporter {
  readonly #queued = new Map<string, string>();

  onTestModuleQueued(module: TestModule): void {
    this.#queued.set(module.id, module.relativeModuleId);
  }

  onTestModuleEnd(module: TestModule): void {
    this.#queued.delete(module.id);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    // A module that ended with a result is not unfinished, whichever hook told us.
    for (const module of modules)
      if (module.state() !== 'pending' && module.state() !== 'queued') this.#queued.delete(module.id);
    if (this.#queued.size === 0) return;
    const files = [...this.#queued.values()].sort();
    process.stderr.write(
      `\n${files.length} test file(s) never finished (their worker exited, or the run was cut short):\n${files.map((f) => `  ${f}\n`).join('')}`,
    );
    process.exitCode = 1;
  }
}
