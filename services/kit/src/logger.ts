import pino, { type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino replaces with "[redacted]": credentials in request headers (the
 * fastify request serializer logs headers on errors) and any password/token
 * field a handler might log by accident.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  '*.password',
  'passwordHash',
  '*.passwordHash',
  'token',
  '*.token',
  'secret',
  '*.secret',
];

/**
 * The JSON logger every service uses: one line per event on stdout (the
 * cluster's log shipper reads stdout), `service` on every line, ISO
 * timestamps, level names instead of numbers so queries read naturally,
 * written synchronously so nothing is lost at exit.
 * `destination` exists for tests that assert on log lines.
 */
export function createLogger(
  service: string,
  level: LevelWithSilent = 'info',
  destination?: pino.DestinationStream,
): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  // Synchronous stdout: pino's default asynchronous writer loses or reorders
  // the last lines when the process exits mid-write (the exit-time flush
  // overtakes the write in flight) — exactly the shutdown and crash lines
  // that matter. Log volume is low (per-request logging is off by default),
  // so the extra syscall per line is cheap.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}

/**
 * fastify `childLoggerFactory` that builds each request's child logger on
 * first use. Fastify makes a child (request id bound) for every request, and
 * pino serialises and redacts the bindings right away — a few percent of a
 * small request's CPU, for a logger most requests never use (per-request
 * logging is off). Methods are stand-ins that create the real child when
 * called; reading any other property creates it at once.
 */
export function lazyChildLoggerFactory(logger: Logger, bindings: pino.Bindings, options: pino.ChildLoggerOptions): Logger {
  let child: Logger | undefined;
  const real = (): Logger => (child ??= logger.child(bindings, options));
  const methods = new Map<PropertyKey, (...args: unknown[]) => unknown>();
  return new Proxy(logger, {
    get(target, property) {
      if (child) {
        const value: unknown = Reflect.get(child, property, child);
        return typeof value === 'function' ? value.bind(child) : value;
      }
      if (typeof Reflect.get(target, property) === 'function') {
        let method = methods.get(property);
        if (!method) {
          method = (...args: unknown[]) => (Reflect.get(real(), property) as (...a: unknown[]) => unknown).apply(child, args);
          methods.set(property, method);
        }
        return method;
      }
      const created = real();
      return Reflect.get(created, property, created);
    },
    set(_target, property, value) {
      return Reflect.set(real(), property, value);
    },
  });
}
