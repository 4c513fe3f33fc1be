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
  // What each connection sent, apart: a request's body does not end in a newline, so the next connection's request
  // line, appended to one shared string, would not start a line and go uncounted.
  const received: string[] = [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const index = received.push('') - 1;
    socket.on('data', (chunk) => {
      received[index] += chunk.toString('latin1');
    });
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the silent server has no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests: () =>
      received.reduce(
        (count, sent) =>
          count + (sent.match(/^(?:GET|POST|PUT|DELETE|HEAD) \S+ HTTP\/1\.1\r$/gm)?.length ?? 0),
        0,
      ),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
