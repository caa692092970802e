import { Counter, Gauge, Histogram, type ServiceMetrics } from '@noa/kit';

type Registry = ServiceMetrics['registry'];

/** The worker's own metrics, for alerts (failure and dead-letter rates) and KEDA (queue depth). */
export interface WorkerMetrics {
  readonly processed: Counter<'type'>;
  readonly duplicates: Counter<'type'>;
  readonly failed: Counter<'type'>;
  readonly retried: Counter<'type'>;
  readonly deferred: Counter<'type'>;
  readonly deadLettered: Counter<'type' | 'reason'>;
  readonly duration: Histogram<'type' | 'outcome'>;
  readonly inFlight: Gauge;
  readonly queueDepth: Gauge<'queue'>;
}

export function createWorkerMetrics(registry: Registry, readDepths: () => Promise<Record<string, number>>): WorkerMetrics {
  const registers = [registry];
  return {
    processed: new Counter({ name: 'worker_jobs_processed_total', help: 'Jobs whose effects were applied', labelNames: ['type'], registers }),
    duplicates: new Counter({
      name: 'worker_jobs_duplicate_total',
      help: 'Redelivered jobs skipped because they had already been processed',
      labelNames: ['type'],
      registers,
    }),
    failed: new Counter({ name: 'worker_jobs_failed_total', help: 'Job attempts that failed', labelNames: ['type'], registers }),
    retried: new Counter({ name: 'worker_jobs_retried_total', help: 'Failed jobs scheduled for another attempt', labelNames: ['type'], registers }),
    deferred: new Counter({
      name: 'worker_jobs_deferred_total',
      help: 'Jobs put back for later without spending an attempt because PostgreSQL was unavailable',
      labelNames: ['type'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'worker_jobs_dead_lettered_total',
      help: 'Jobs sent to the dead-letter queue, by reason (poison, unknown-type, invalid-payload, permanent, exhausted)',
      labelNames: ['type', 'reason'],
      registers,
    }),
    duration: new Histogram({
      name: 'worker_job_duration_seconds',
      help: 'Handler time per attempt, transaction included',
      labelNames: ['type', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    inFlight: new Gauge({ name: 'worker_jobs_in_flight', help: 'Jobs being handled right now', registers }),
    queueDepth: new Gauge({
      name: 'worker_queue_depth',
      help: 'Ready messages per job queue (read from the broker at scrape time)',
      labelNames: ['queue'],
      registers,
      async collect() {
        try {
          const depths = await readDepths();
          for (const [queue, depth] of Object.entries(depths)) this.set({ queue }, depth);
        } catch {
          // A scrape during a reconnect keeps the last values rather than failing /metrics.
        }
      },
    }),
  };
}
