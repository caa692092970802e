import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../src/logger.js';

/** A logger whose JSON lines are collected in `lines` (parsed), for asserting on what a service logs. */
export function createCapturingLogger(service = 'test', level: 'info' | 'debug' | 'warn' = 'info'): {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
} {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim().length > 0) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { logger: createLogger(service, level, sink), lines };
}
