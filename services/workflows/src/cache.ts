import { fillCache, invalidateCache, readCacheTicket, type CacheTicket, type Counter, type Logger, type NearCache, type RedisClient } from '@noa/kit';
import type { Workflow } from './model';

/**
 * Cache-aside for single workflows in Redis Cluster (seed 003: TTL plus
 * invalidation on write). Keys carry the user id as a hash tag
 * (`wf:{<userId>}:<id>`), so one user's entries share a slot and could be
 * handled together by multi-key commands. Redis is an accelerator, never a
 * dependency: a failing cache read falls through to PostgreSQL. A reader
 * takes a ticket after its miss and before it reads PostgreSQL, and fills
 * only if no write invalidated the workflow since (the kit's
 * `readCacheTicket`/`fillCache`/`invalidateCache`), so an update or a delete
 * is never undone in the cache by a slow read.
 *
 * With `near` (the kit's near cache, prefix `wf:`), a workflow this process
 * read from Redis is also kept in memory and served without a trip to Redis
 * until Redis reports a change to its key; a write drops this process's copy
 * before it answers, and the other replicas' when Redis's report arrives.
 */
export class WorkflowCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    private readonly lookups: Counter<'result'>,
    private readonly near?: NearCache,
  ) {}

  static key(userId: string, id: string): string {
    return `wf:{${userId}}:${id}`;
  }

  async get(userId: string, id: string): Promise<Workflow | null> {
    const key = WorkflowCache.key(userId, id);
    const fetch = async () => {
      const raw = await this.redis.get(key);
      this.lookups.inc({ result: raw === null ? 'miss' : 'hit' });
      return raw;
    };
    try {
      let raw: string | null;
      if (this.near === undefined) {
        raw = await fetch();
      } else {
        const read = await this.near.read(key, fetch);
        if (read.source === 'near') this.lookups.inc({ result: 'near' });
        raw = read.value;
      }
      return raw === null ? null : (JSON.parse(raw) as Workflow);
    } catch (err) {
      this.lookups.inc({ result: 'error' });
      this.logger.warn({ err }, 'workflow cache read failed; reading PostgreSQL');
      return null;
    }
  }

  /** The ticket to fill with later; undefined when Redis cannot be asked (then nothing is filled). */
  async ticket(userId: string, id: string): Promise<CacheTicket | undefined> {
    try {
      return await readCacheTicket(this.redis, WorkflowCache.key(userId, id));
    } catch (err) {
      this.logger.warn({ err }, 'workflow cache ticket read failed; not caching this read');
      return undefined;
    }
  }

  /** Caches `workflow` as read after `ticket` was taken, unless a write invalidated it since. */
  async set(userId: string, workflow: Workflow, ticket: CacheTicket | undefined): Promise<void> {
    if (ticket === undefined) return;
    try {
      await fillCache(this.redis, WorkflowCache.key(userId, workflow.id), JSON.stringify(workflow), this.ttlSeconds, ticket);
    } catch (err) {
      this.logger.warn({ err }, 'workflow cache write failed');
    }
  }

  /**
   * Called after every committed write. If Redis cannot be reached the stale
   * entry lives at most one TTL; the failure is logged and counted.
   */
  async invalidate(userId: string, id: string): Promise<void> {
    const key = WorkflowCache.key(userId, id);
    try {
      await invalidateCache(this.redis, key, this.near);
    } catch (err) {
      this.lookups.inc({ result: 'invalidate_error' });
      this.logger.error({ err, workflowId: id }, 'workflow cache invalidation failed; entry may be stale until its TTL');
    }
  }
}
