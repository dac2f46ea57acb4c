/**
 * The baseline: a bare Node HTTP server on the same machine, doing the least possible
 * work for the same answers: a constant JSON for /v1/health, the target's bytes read
 * from a file for /targets/*. Run as its own process, like the local stack.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';

const file = process.argv[2];
if (!file) throw new Error('usage: bare-server.ts FILE');
const size = (await stat(file)).size;
const health = Buffer.from(JSON.stringify({ status: 'ok' }));

const server = createServer((req, res) => {
  if (req.url === '/v1/health') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': health.length });
    res.end(health);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
  createReadStream(file).pipe(res);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(`bare ready: http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
