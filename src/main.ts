import { mkdir } from 'node:fs/promises';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { isVoxlineError } from './errors.js';

/** Entry point: the only place that reads the environment or handles process signals. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (!isVoxlineError(err, 'VL_ERR_CONFIG')) throw err;
    process.stderr.write(`voxline: ${err.message}\n`);
    process.exit(1);
  }
  try {
    await mkdir(config.dataDir, { recursive: true });
  } catch (err) {
    process.stderr.write(
      `voxline: DATA_DIR ${config.dataDir} cannot be created: ${(err as Error).message}\n`,
    );
    process.exit(1);
  }

  const { server, startEdges } = await buildApp(config);
  for (const warning of config.warnings) server.log.warn(warning);
  await server.listen({ port: config.port, host: config.host });
  await startEdges();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      server.log.warn({ signal }, 'second signal: exiting without draining');
      process.exit(1);
    }
    stopping = true;
    server.log.info({ signal, drainMs: config.calls.shutdownDrainMs }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
