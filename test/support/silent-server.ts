import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP server that accepts every connection and never answers: an endpoint gone silent. */
export interface SilentServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** HTTP requests received so far (each request line counts once, whatever the connection). */
  requests(): number;
  close(): Promise<void>;
}

export async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  let received = '';
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the silent server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests: () => received.match(/^(?:GET|POST|PUT|DELETE|HEAD) \S+ HTTP\/1\.1\r$/gm)?.length ?? 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
