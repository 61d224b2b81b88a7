import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import { isVoxlineError } from './errors.js';
import { createLogger, resolveLogFormat } from './observability/logger.js';
import { startupGuide } from './startup-guide.js';

/**
 * Settings from a `.env` file in the working directory (or the file ENV_FILE names), read before
 * the config; a variable already set in the environment wins over the file.
 */
function readEnvFile(): string | undefined {
  const named = process.env.ENV_FILE;
  const path = named ?? '.env';
  if (!existsSync(path)) {
    if (!named) return undefined;
    process.stderr.write(`voxline: ENV_FILE ${named} does not exist\n`);
    process.exit(1);
  }
  try {
    process.loadEnvFile(path);
  } catch (err) {
    process.stderr.write(`voxline: ${path} cannot be read: ${(err as Error).message}\n`);
    process.exit(1);
  }
  return path;
}

/** Entry point: the only place that reads the environment or handles process signals. */
async function main(): Promise<void> {
  const envFile = readEnvFile();
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

  const format = resolveLogFormat(config.logFormat, process.stdout.isTTY === true);
  const logger = createLogger({ level: config.logLevel, format });
  let app: Awaited<ReturnType<typeof buildApp>>;
  try {
    app = await buildApp(config, { logger });
  } catch (err) {
    if (!isVoxlineError(err, 'VL_ERR_DATABASE')) throw err;
    process.stderr.write(`voxline: ${err.message}\n`);
    process.exit(1);
  }
  const { server, startEdges } = app;
  if (envFile) server.log.info({ file: envFile }, 'settings read from the env file');
  // At a terminal the guide below says what is not set; log shippers get each warning as a line.
  if (format === 'json') for (const warning of config.warnings) server.log.warn(warning);
  await server.listen({
    port: config.port,
    host: config.host,
    listenTextResolver: (address) => `listening at ${address}`,
  });
  const ports = await startEdges();
  const localUrl = `http://${config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host}:${boundPort(server)}`;
  if (format === 'pretty') {
    process.stderr.write(
      `\n${startupGuide({
        localUrl,
        publicUrl: config.publicUrl,
        asr: config.asr,
        twilioTokenSet: config.twilio.authToken !== undefined,
        ports,
        warnings: config.warnings,
      })}\n`,
    );
  }

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

/** The HTTP port listened on (PORT=0 lets the OS pick one). */
function boundPort(server: { addresses(): (string | { port: number })[] }): number {
  const address = server.addresses()[0];
  return typeof address === 'object' ? address.port : 0;
}

await main();
