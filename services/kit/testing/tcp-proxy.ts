import net from 'node:net';

export interface TcpProxy {
  /** The loopback port clients connect to. */
  readonly port: number;
  /** Simulates an outage: drops every open connection and refuses new ones until `restore()`. */
  cut(): Promise<void>;
  /** Ends the outage: accepts and forwards connections again on the same port. */
  restore(): Promise<void>;
  /** Drops open connections without refusing new ones (a network blip). */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP forwarder in front of a real server (PostgreSQL, RabbitMQ,
 * Redis), so a test can take a dependency "down" and bring it back without
 * stopping the shared server other tests use.
 */
export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let port = 0;
  let server: net.Server | undefined;

  const handle = (client: net.Socket) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer(handle);
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const dropConnections = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };

  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      dropConnections();
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await listen();
  return {
    get port() {
      return port;
    },
    cut: stop,
    restore: async () => {
      if (!server) await listen();
    },
    dropConnections,
    close: stop,
  };
}
