/**
 * How many jobs may hold a database connection at once. Jobs past that wait
 * here, for as long as it takes, rather than in the pool's connect queue,
 * whose 5 s timeout would fail them as if the job itself had failed (and
 * after a few such "failures" dead-letter jobs that never ran). Sized below
 * the pool, it also leaves a connection for readiness checks.
 */
export class DatabaseSlots {
  private free: number;
  private readonly waiting: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`database slots (${size}) must be a whole number of at least 1`);
    this.free = size;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects when `signal` aborts first. */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const release = this.releaser();
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject,
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.free += 1;
    };
  }
}
