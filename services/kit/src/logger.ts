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
 * logging is off). The stand-in has every property of a pino logger (found
 * once, from a sample logger's shape): methods create the real child when
 * called and run on it; any other property reads or writes the real child.
 * A plain object with prototype methods, not a Proxy: fastify checks seven
 * of its methods on every request, and that costs nothing here.
 */
export function lazyChildLoggerFactory(logger: Logger, bindings: pino.Bindings, options: pino.ChildLoggerOptions): Logger {
  return new LazyChildLogger(logger, bindings, options) as unknown as Logger;
}

const STATE = Symbol('noa.lazyChild');

/** State under a symbol, so no pino property name (`bindings`, `child`, …) is shadowed on the instance. */
class LazyChildLogger {
  readonly [STATE]: { parent: Logger; bindings: pino.Bindings; options: pino.ChildLoggerOptions; real?: Logger };
  constructor(parent: Logger, bindings: pino.Bindings, options: pino.ChildLoggerOptions) {
    this[STATE] = { parent, bindings, options };
  }
}

function realChild(lazy: LazyChildLogger): Logger {
  const state = lazy[STATE];
  return (state.real ??= state.parent.child(state.bindings, state.options));
}

// The stand-in's shape: every property of a pino child logger, own or inherited.
{
  const sample = pino({ level: 'silent' }, { write: () => undefined }).child({});
  const names = new Set<PropertyKey>();
  for (let o: object | null = sample; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Reflect.ownKeys(o)) if (name !== 'constructor') names.add(name);
  }
  for (const name of names) {
    if (typeof (sample as unknown as Record<PropertyKey, unknown>)[name] === 'function') {
      Object.defineProperty(LazyChildLogger.prototype, name, {
        value(this: LazyChildLogger, ...args: unknown[]) {
          const real = realChild(this) as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>;
          return real[name]!(...args);
        },
        writable: true,
        configurable: true,
      });
    } else {
      Object.defineProperty(LazyChildLogger.prototype, name, {
        get(this: LazyChildLogger) {
          return (realChild(this) as unknown as Record<PropertyKey, unknown>)[name];
        },
        set(this: LazyChildLogger, value: unknown) {
          (realChild(this) as unknown as Record<PropertyKey, unknown>)[name] = value;
        },
        configurable: true,
      });
    }
  }
}
