import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

export interface RunServiceArgs {
  /** The service's server from `createHttpServer`, routes registered. */
  readonly app: FastifyInstance;
  /** Port to listen on (`PORT`). */
  readonly port: number;
  /** Interface to bind (default `0.0.0.0`, as a pod must accept traffic on its IP). */
  readonly host?: string;
  readonly logger: Logger;
  /**
   * Run in order after the HTTP server has drained: stop consumers first,
   * then close pools and clients (default none). A failing step is logged and
   * the rest still run.
   */
  readonly onShutdown?: ReadonlyArray<() => Promise<void>>;
  /**
   * Upper bound for the whole shutdown (`SHUTDOWN_TIMEOUT_MS`, default
   * 25000); past it the process exits 1. Keep it below the pod's
   * terminationGracePeriodSeconds so Kubernetes never has to SIGKILL.
   */
  readonly timeoutMs?: number;
}

/**
 * Listens, marks startup complete, and installs the graceful shutdown:
 * on SIGTERM/SIGINT (or an uncaught error) the server stops accepting
 * connections, in-flight requests finish, then `onShutdown` runs in order and
 * the process exits 0 — or 1 after an uncaught error or when draining takes
 * longer than `timeoutMs`. A second signal exits 1 at once.
 *
 * Kubernetes keeps routing to a terminating pod until the endpoint update
 * propagates; the Deployment's preStop sleep covers that window, so the
 * process can stop accepting as soon as the signal arrives.
 */
export async function runService(args: RunServiceArgs): Promise<void> {
  const { app, logger } = args;
  const timeoutMs = args.timeoutMs ?? 25_000;
  const address = await app.listen({ port: args.port, host: args.host ?? '0.0.0.0' });
  app.markStarted();
  logger.info({ address }, 'listening');
  closeWithGrace(
    {
      delay: timeoutMs,
      logger: { error: (message: unknown) => logger.error({ detail: message }, 'shutdown error') },
      onTimeout: (delay) => logger.error({ timeoutMs: delay }, 'shutdown did not finish in time; exiting 1'),
      onSecondSignal: (signal) => logger.error({ signal }, 'second signal during shutdown; exiting 1'),
    },
    async ({ signal, err }) => {
      if (err) logger.error({ err }, 'uncaught error; shutting down');
      else logger.info({ signal }, 'shutting down: draining in-flight requests');
      await app.close();
      for (const step of args.onShutdown ?? []) {
        try {
          await step();
        } catch (stepErr) {
          logger.error({ err: stepErr }, 'shutdown step failed');
        }
      }
      logger.info('shutdown complete');
    },
  );
}
