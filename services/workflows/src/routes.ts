import { createHash } from 'node:crypto';
import { decodeKeysetCursor, forwardedUserId, HttpError, isPrivateHost, parseInput, z, type PgPoolClient } from '@noa/kit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { WorkflowCache } from './cache';
import type { JobOutbox } from './outbox';
import { addStepBody, createWorkflowBody, listQuery, updateWorkflowBody, type Workflow } from './model';
import { TooManyStepsError, type WorkflowRepository } from './repository';
import { jobsFor, type WorkflowEvent } from './triggers';

/** Publishes one message and resolves on the broker's confirm (the kit's `AmqpClient.publish`). */
export type PublishFn = (exchange: string, routingKey: string, body: object, options: { messageId: string; type: string }) => Promise<void>;

export interface WorkflowRoutesDeps {
  /** Workflow rows, always filtered by the caller's user id. */
  readonly repository: WorkflowRepository;
  /** Cache-aside for single workflows. */
  readonly cache: WorkflowCache;
  /** Records each write's jobs in its transaction and publishes them after the commit. */
  readonly outbox: JobOutbox;
  /** Accept webhook URLs on private or cluster-internal hosts (local use). */
  readonly allowPrivateWebhooks: boolean;
}

const uuid = z.uuid();
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
/** How long an Idempotency-Key replays its first response. */
export const IDEMPOTENCY_WINDOW_HOURS = 24;

const badRequest = (message: string) => new HttpError(400, message);
const notFound = () => new HttpError(404, 'workflow not found');

/** A UUID path parameter, lower-cased: cache keys are built from it and must match the database's form. */
function idParam(request: FastifyRequest, name = 'id'): string {
  const value = (request.params as Record<string, string>)[name];
  if (!uuid.safeParse(value).success) throw badRequest(`params.${name} (${value}) must be a UUID`);
  return value!.toLowerCase();
}

/** Canonical JSON (sorted keys) so the same body in another key order hashes alike. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Registers the workflow API on a server from the kit's createHttpServer (its error handler shapes every error body). */
export async function workflowRoutes(app: FastifyInstance, deps: WorkflowRoutesDeps): Promise<void> {
  const { repository, cache, outbox } = deps;

  /** A webhook the worker would refuse to deliver is bad input here, named like every other. */
  function checkWebhookTarget(input: { webhookUrl?: string | null }): void {
    const url = input.webhookUrl;
    if (!url || deps.allowPrivateWebhooks || !isPrivateHost(new URL(url).hostname)) return;
    throw badRequest(`body.webhookUrl (${JSON.stringify(url).slice(0, 100)}): must not point at a private or cluster-internal host`);
  }

  /**
   * Runs a write in one transaction together with the outbox rows of the jobs
   * it triggers (none when the write found nothing), then, after the commit,
   * runs `afterCommit` (cache invalidation) and publishes the jobs. A publish
   * that fails leaves its row for the outbox relay: the write and its jobs stand.
   */
  async function writeWithJobs<T extends Workflow>(
    event: WorkflowEvent,
    userId: string,
    write: (client: PgPoolClient) => Promise<T | null | undefined>,
    afterCommit?: (written: T) => Promise<void>,
  ): Promise<T | null | undefined> {
    const { written, jobs } = await repository.withTransaction(async (client) => {
      const written = await write(client);
      const jobs = written ? jobsFor(event, userId, written) : [];
      await outbox.add(client, jobs);
      return { written, jobs };
    });
    if (written && afterCommit) await afterCommit(written);
    await outbox.dispatch(jobs);
    return written;
  }

  app.post('/api/workflows', async (request, reply) => {
    const userId = forwardedUserId(request);
    const input = parseInput(createWorkflowBody, request.body, 'body');
    checkWebhookTarget(input);
    const key = request.headers['idempotency-key'];
    if (key === undefined) {
      const workflow = (await writeWithJobs('workflow.created', userId, (client) => repository.create(client, userId, input)))!;
      return reply.code(201).header('location', `/api/workflows/${workflow.id}`).send(workflow);
    }
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
      throw badRequest('headers.idempotency-key must be 1-255 visible ASCII characters');
    }
    const requestHash = createHash('sha256').update(canonical(request.body)).digest('hex');
    // One transaction on the user's shard: claim the key, create, store the response.
    // A concurrent request with the same key waits on the key's row and then replays.
    const outcome = await repository.withTransaction(async (client) => {
      // Keys replay for a day; the caller's expired ones go here, on its own shard,
      // so the table needs no global sweep.
      await client.query(`DELETE FROM workflow_idempotency_keys WHERE user_id = $1 AND created_at < now() - interval '${IDEMPOTENCY_WINDOW_HOURS} hours'`, [userId]);
      const claimed = await client.query(
        `INSERT INTO workflow_idempotency_keys (user_id, key, request_hash, status_code, response) VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING`,
        [userId, key, requestHash],
      );
      if (claimed.rowCount === 0) {
        const { rows } = await client.query<{ request_hash: string; status_code: number; response: Workflow }>(
          `SELECT request_hash, status_code, response FROM workflow_idempotency_keys WHERE user_id = $1 AND key = $2`,
          [userId, key],
        );
        const previous = rows[0]!;
        if (previous.request_hash !== requestHash) {
          throw new HttpError(422, 'Idempotency-Key was already used with a different request body', { code: 'idempotency_key_reused' });
        }
        return { replayed: true, workflow: previous.response, jobs: [] };
      }
      const workflow = await repository.create(client, userId, input);
      const jobs = jobsFor('workflow.created', userId, workflow);
      await outbox.add(client, jobs);
      await client.query(`UPDATE workflow_idempotency_keys SET status_code = 201, response = $3 WHERE user_id = $1 AND key = $2`, [
        userId,
        key,
        JSON.stringify(workflow),
      ]);
      return { replayed: false, workflow, jobs };
    });
    await outbox.dispatch(outcome.jobs);
    return reply
      .code(201)
      .header('location', `/api/workflows/${outcome.workflow.id}`)
      .header('idempotent-replayed', String(outcome.replayed))
      .send(outcome.workflow);
  });

  app.get('/api/workflows', async (request) => {
    const userId = forwardedUserId(request);
    const query = parseInput(listQuery, request.query, 'query');
    let after = null;
    if (query.cursor !== undefined) {
      after = decodeKeysetCursor(query.cursor);
      if (!after) throw badRequest(`query.cursor (${query.cursor}) is not a cursor returned by this API`);
    }
    return repository.list(userId, query.limit, after);
  });

  app.get('/api/workflows/:id', async (request, reply) => {
    const userId = forwardedUserId(request);
    const id = idParam(request);
    const cached = await cache.get(userId, id);
    if (cached) return reply.header('x-cache', 'hit').send(cached);
    // Taken before the read: a write committed after it keeps this read out of the cache.
    const ticket = await cache.ticket(userId, id);
    const workflow = await repository.get(userId, id);
    if (!workflow) throw notFound();
    await cache.set(userId, workflow, ticket);
    return reply.header('x-cache', 'miss').send(workflow);
  });

  app.patch('/api/workflows/:id', async (request) => {
    const userId = forwardedUserId(request);
    const id = idParam(request);
    const input = parseInput(updateWorkflowBody, request.body, 'body');
    checkWebhookTarget(input);
    const workflow = await writeWithJobs('workflow.updated', userId, (client) => repository.update(client, userId, id, input), () => cache.invalidate(userId, id));
    if (!workflow) throw notFound();
    return workflow;
  });

  app.delete('/api/workflows/:id', async (request, reply) => {
    const userId = forwardedUserId(request);
    const id = idParam(request);
    const workflow = await writeWithJobs(
      'workflow.deleted',
      userId,
      async (client) => {
        // Locked until the commit: a concurrent delete waits and then finds nothing (404, no second
        // workflow.deleted job), and a concurrent update cannot change what the delete's jobs carry.
        const existing = await repository.get(userId, id, client, { forUpdate: true });
        if (existing) await repository.delete(client, userId, id);
        return existing;
      },
      () => cache.invalidate(userId, id),
    );
    if (!workflow) throw notFound();
    return reply.code(204).send();
  });

  app.get('/api/workflows/:id/steps', async (request) => {
    const userId = forwardedUserId(request);
    const workflow = await repository.get(userId, idParam(request));
    if (!workflow) throw notFound();
    return { items: workflow.steps };
  });

  app.post('/api/workflows/:id/steps', async (request, reply) => {
    const userId = forwardedUserId(request);
    const id = idParam(request);
    const step = parseInput(addStepBody, request.body, 'body');
    let workflow;
    try {
      workflow = await writeWithJobs('workflow.updated', userId, (client) => repository.addStep(client, userId, id, step), () => cache.invalidate(userId, id));
    } catch (err) {
      if (err instanceof TooManyStepsError) throw new HttpError(409, err.message, { code: 'too_many_steps' });
      throw err;
    }
    if (!workflow) throw notFound();
    return reply.code(201).send(workflow.steps.at(-1));
  });

  app.delete('/api/workflows/:id/steps/:stepId', async (request, reply) => {
    const userId = forwardedUserId(request);
    const id = idParam(request);
    const stepId = idParam(request, 'stepId');
    const workflow = await writeWithJobs('workflow.updated', userId, (client) => repository.removeStep(client, userId, id, stepId), () => cache.invalidate(userId, id));
    if (!workflow) throw new HttpError(404, 'workflow step not found');
    return reply.code(204).send();
  });
}
