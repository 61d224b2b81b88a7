// A real S3-compatible server in its own process, for the recording upload tests:
//   node s3rver-main.mjs <directory> [bucket…]
// listens on 127.0.0.1, port 0, and prints one JSON line {"port": N} once it accepts requests.
import S3rver from 's3rver';

const [directory, ...buckets] = process.argv.slice(2);
if (!directory) {
  process.stderr.write('usage: s3rver-main.mjs <directory> [bucket…]\n');
  process.exit(2);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
// The parent ends this process (SIGTERM) when the test is done; closing on it keeps the store tidy.
process.once('SIGTERM', () => {
  server.close().finally(() => process.exit(0));
});
