/**
 * A real HTTP proxy for the agent tests: the `proxy` npm package (TooTallNate's, a
 * maintained Squid-like proxy, not written here) with basic authentication, on a free
 * port. Counts the requests and tunnels it carried, the bytes it sent its clients, and
 * the authentications it refused.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createProxy } from 'proxy';

export interface TestProxy {
  readonly port: number;
  readonly seen: { connects: number; requests: number; refused: number };
  /** Bytes the proxy has sent to its clients so far (tunnelled answers included). */
  bytesToClients(): number;
  close(): Promise<void>;
}

export async function startAuthProxy(user: string, password: string): Promise<TestProxy> {
  const seen = { connects: 0, requests: 0, refused: 0 };
  const server = createProxy(createServer());
  // Tunnels (CONNECT) leave the HTTP server's bookkeeping: track every socket to close them all.
  const sockets = new Set<Socket>();
  let closedBytes = 0;
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closedBytes += socket.bytesWritten;
    });
  });
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  server.authenticate = (req) => {
    const ok = req.headers['proxy-authorization'] === expected;
    if (!ok) seen.refused++;
    else if (req.method === 'CONNECT') seen.connects++;
    else seen.requests++;
    return ok;
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    bytesToClients: () => [...sockets].reduce((n, socket) => n + socket.bytesWritten, closedBytes),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
