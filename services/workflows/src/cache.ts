import { fillCache, invalidateCache, type Counter, type Logger, type RedisClient } from '@noa/kit';
import type { Workflow } from './model';

/**
 * Cache-aside for single workflows in Redis Cluster (seed 003: TTL plus
 * invalidation on write). Keys carry the user id as a hash tag
 * (`wf:{<userId>}:<id>`), so one user's entries share a slot and could be
 * handled together by multi-key commands. Redis is an accelerator, never a
 * dependency: a failing cache read falls through to PostgreSQL. A write's
 * invalidation keeps a reader that read the old row just before it from
 * caching that row again (the kit's `fillCache`/`invalidateCache`), so an
 * update or a delete is not undone in the cache until the TTL.
 */
export class WorkflowCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    private readonly lookups: Counter<'result'>,
  ) {}

  static key(userId: string, id: string): string {
    return `wf:{${userId}}:${id}`;
  }

  async get(userId: string, id: string): Promise<Workflow | null> {
    try {
      const raw = await this.redis.get(WorkflowCache.key(userId, id));
      this.lookups.inc({ result: raw === null ? 'miss' : 'hit' });
      return raw === null ? null : (JSON.parse(raw) as Workflow);
    } catch (err) {
      this.lookups.inc({ result: 'error' });
      this.logger.warn({ err }, 'workflow cache read failed; reading PostgreSQL');
      return null;
    }
  }

  async set(userId: string, workflow: Workflow): Promise<void> {
    try {
      await fillCache(this.redis, WorkflowCache.key(userId, workflow.id), JSON.stringify(workflow), this.ttlSeconds);
    } catch (err) {
      this.logger.warn({ err }, 'workflow cache write failed');
    }
  }

  /**
   * Called after every committed write. If Redis cannot be reached the stale
   * entry lives at most one TTL; the failure is logged and counted.
   */
  async invalidate(userId: string, id: string): Promise<void> {
    try {
      await invalidateCache(this.redis, WorkflowCache.key(userId, id));
    } catch (err) {
      this.lookups.inc({ result: 'invalidate_error' });
      this.logger.error({ err, workflowId: id }, 'workflow cache invalidation failed; entry may be stale until its TTL');
    }
  }
}
