import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';

/** s3rver's built-in account (it knows no other). */
export const S3RVER_KEY = 'S3RVER';

/** A real s3rver (S3 REST API over HTTP) in a child process, its data in a fresh temp folder. */
export interface S3rverProcess {
  readonly port: number;
  readonly endpoint: string;
  /** An SDK client of the test's own, to look into the bucket. */
  readonly client: S3Client;
  stop(): Promise<void>;
}

export async function startS3rver(buckets: readonly string[] = []): Promise<S3rverProcess> {
  const directory = mkdtempSync(join(tmpdir(), 'voxline-s3rver-'));
  const child = spawn(
    process.execPath,
    [new URL('./s3rver-main.mjs', import.meta.url).pathname, directory, ...buckets],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code}): ${stderr}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
  });
  return { port, endpoint, client, stop: () => stopChild(child, client) };
}

async function stopChild(child: ChildProcess, client: S3Client): Promise<void> {
  client.destroy();
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM'); // this test's own child, by its handle
  await exited;
}

export async function createBucket(s3: S3rverProcess, bucket: string): Promise<void> {
  await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** The object's bytes and metadata, or undefined when there is none. */
export async function readObject(
  s3: S3rverProcess,
  bucket: string,
  key: string,
): Promise<{ body: Buffer; metadata: Record<string, string> } | undefined> {
  try {
    await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  } catch {
    return undefined;
  }
  const got = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return { body: Buffer.from((await got.Body?.transformToByteArray()) ?? []), metadata: got.Metadata ?? {} };
}

/**
 * A TCP relay in front of a server that the test opens and shuts like a switch: while shut, every
 * connection is reset at once (the store is "down"); while open, bytes go both ways untouched.
 * Listens on port 0, so the address voxline is given never changes.
 */
export class Gate {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #target: number | undefined;
  /** Connections refused while shut. */
  refused = 0;

  constructor() {
    this.#server = createServer((socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
      socket.on('error', () => undefined);
      if (this.#target === undefined) {
        this.refused++;
        socket.resetAndDestroy();
        return;
      }
      const out = connect(this.#target, '127.0.0.1');
      this.#sockets.add(out);
      out.once('close', () => this.#sockets.delete(out));
      out.on('error', () => socket.destroy());
      socket.on('error', () => out.destroy());
      socket.pipe(out).pipe(socket);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return (this.#server.address() as { port: number }).port;
  }

  open(targetPort: number): void {
    this.#target = targetPort;
  }

  shut(): void {
    this.#target = undefined;
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.shut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
