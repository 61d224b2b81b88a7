import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WebSocketServer } from 'ws';

/** Listens on 127.0.0.1 (port 0: any free one) and returns the http:// origin. */
export async function listenLoopback(http: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

/** Cuts every session (as a crashed server would), then closes the servers. */
export async function closeAbruptly(http: Server, wss: WebSocketServer): Promise<void> {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
}
