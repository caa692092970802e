/**
 * Replays dead-lettered jobs into their queues (see ../dead-letters.ts).
 * Runs where the worker runs, with its AMQP_URL:
 *
 *   kubectl -n noa exec deploy/worker -- node dist/replay-dead-letters.js --dry-run
 *   kubectl -n noa exec deploy/worker -- node dist/replay-dead-letters.js --type webhook --limit 500
 *
 * Options: --type T (repeatable), --reason R (repeatable), --limit N (default
 * 1000), --dry-run. Prints one JSON summary line; exit 0 when done, 2 on bad
 * options or environment, 1 when RabbitMQ fails.
 */
import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { replayDeadLetters, validateReplayOptions, type ReplayOptions } from '../dead-letters';

async function main(): Promise<number> {
  let options: ReplayOptions;
  try {
    const { values } = parseArgs({
      options: {
        type: { type: 'string', multiple: true },
        reason: { type: 'string', multiple: true },
        limit: { type: 'string', default: '1000' },
        'dry-run': { type: 'boolean', default: false },
      },
      strict: true,
    });
    options = { types: values.type, reasons: values.reason, limit: Number(values.limit), dryRun: values['dry-run'] ?? false };
  } catch (err) {
    process.stderr.write(`replay-dead-letters: ${(err as Error).message}\n`);
    return 2;
  }
  const problems = validateReplayOptions(options);
  const url = process.env.AMQP_URL;
  if (!url) problems.push('AMQP_URL is not set');
  if (problems.length > 0) {
    process.stderr.write(`replay-dead-letters: ${problems.join('; ')}\n`);
    return 2;
  }
  const connection = await amqp.connect(url!);
  try {
    const channel = await connection.createConfirmChannel();
    const summary = await replayDeadLetters(channel, options);
    process.stdout.write(`${JSON.stringify({ dryRun: options.dryRun, ...summary })}\n`);
    await channel.close();
    return 0;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`replay-dead-letters: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
