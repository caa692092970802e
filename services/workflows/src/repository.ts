import { randomUUID } from 'node:crypto';
import { encodeKeysetCursor, withTransaction, type PgPool as Pool, type PgPoolClient as PoolClient } from '@noa/kit';
import { MAX_STEPS, type CreateWorkflow, type Step, type StepInput, type UpdateWorkflow, type Workflow, type WorkflowSummary } from './model';

interface WorkflowRow {
  id: string;
  name: string;
  description: string;
  status: Workflow['status'];
  webhook_url: string | null;
  version: number;
  created_at: Date;
  updated_at: Date;
  cursor: string;
}

/** The columns a Workflow is built from, plus its keyset cursor (microseconds kept: a JS Date would drop them). */
const workflowColumns = (t: string): string =>
  `${t}.id, ${t}.name, ${t}.description, ${t}.status, ${t}.webhook_url, ${t}.version, ${t}.created_at, ${t}.updated_at,
   to_char(${t}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || ${t}.id AS cursor`;
const WORKFLOW_COLUMNS = workflowColumns('workflows');

/** A workflow row with its steps, read by one statement: one snapshot, so never an old row with new steps. (json, not jsonb: it keeps the steps' key order.) */
const WORKFLOW_WITH_STEPS = `SELECT ${workflowColumns('w')},
    (SELECT coalesce(json_agg(json_build_object('id', s.id, 'position', s.position, 'name', s.name, 'kind', s.kind, 'config', s.config) ORDER BY s.position), '[]'::json)
       FROM workflow_steps s WHERE s.user_id = w.user_id AND s.workflow_id = w.id) AS steps
   FROM workflows w
  WHERE w.user_id = $1 AND w.id = $2`;

const toWorkflow = (row: WorkflowRow, steps: Step[]): Workflow => ({
  id: row.id,
  name: row.name,
  description: row.description,
  status: row.status,
  webhookUrl: row.webhook_url,
  version: row.version,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
  steps,
});

/** A step append that would take a workflow past {@link MAX_STEPS}. */
export class TooManyStepsError extends Error {
  constructor(readonly workflowId: string) {
    super(`workflow ${workflowId} already has ${MAX_STEPS} steps, the most a workflow may have`);
    this.name = 'TooManyStepsError';
  }
}

/**
 * Workflow rows in PostgreSQL/Citus. Every statement filters by user_id first:
 * it routes the query to the user's shard and is the ownership check, so
 * another user's workflow is simply not found.
 */
export class WorkflowRepository {
  constructor(private readonly pool: Pool) {}

  withTransaction<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return withTransaction(this.pool, fn);
  }

  async create(client: PoolClient, userId: string, input: CreateWorkflow): Promise<Workflow> {
    const id = randomUUID();
    const { rows } = await client.query<WorkflowRow>(
      `INSERT INTO workflows (user_id, id, name, description, status, webhook_url) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${WORKFLOW_COLUMNS}`,
      [userId, id, input.name, input.description, input.status, input.webhookUrl],
    );
    const steps = await this.insertSteps(client, userId, id, 0, input.steps);
    return toWorkflow(rows[0]!, steps);
  }

  /**
   * One workflow with its steps, or null. `forUpdate` (inside a transaction)
   * also locks the workflow row until the commit, so a concurrent write or
   * delete waits and then sees this one's outcome.
   */
  async get(userId: string, id: string, client: Pool | PoolClient = this.pool, options: { forUpdate?: boolean } = {}): Promise<Workflow | null> {
    const { rows } = await client.query<WorkflowRow & { steps: Step[] }>(
      options.forUpdate ? `${WORKFLOW_WITH_STEPS} FOR UPDATE OF w` : WORKFLOW_WITH_STEPS,
      [userId, id],
    );
    if (rows.length === 0) return null;
    return toWorkflow(rows[0]!, rows[0]!.steps);
  }

  /** Newest first; `after` is a decoded cursor from the previous page. */
  async list(userId: string, limit: number, after: { createdAt: string; id: string } | null): Promise<{ items: WorkflowSummary[]; nextCursor: string | null }> {
    const params: unknown[] = [userId, limit + 1];
    let keyset = '';
    if (after) {
      params.push(after.createdAt, after.id);
      keyset = 'AND (w.created_at, w.id) < ($3::timestamptz, $4::uuid)';
    }
    const { rows } = await this.pool.query<WorkflowRow & { step_count: number }>(
      `SELECT ${workflowColumns('w')},
              (SELECT count(*) FROM workflow_steps s WHERE s.user_id = w.user_id AND s.workflow_id = w.id)::int AS step_count
         FROM workflows w
        WHERE w.user_id = $1 ${keyset}
        ORDER BY w.created_at DESC, w.id DESC
        LIMIT $2`,
      params,
    );
    const page = rows.slice(0, limit);
    const items = page.map((row) => {
      const { steps: _steps, ...summary } = toWorkflow(row, []);
      return { ...summary, stepCount: row.step_count };
    });
    const nextCursor = rows.length > limit ? encodeKeysetCursor(page[page.length - 1]!.cursor) : null;
    return { items, nextCursor };
  }

  /** Applies a partial update; null when the workflow does not exist for this user. */
  async update(client: PoolClient, userId: string, id: string, input: UpdateWorkflow): Promise<Workflow | null> {
    const sets: string[] = [];
    const params: unknown[] = [userId, id];
    const set = (column: string, value: unknown) => {
      params.push(value);
      sets.push(`${column} = $${params.length}`);
    };
    if (input.name !== undefined) set('name', input.name);
    if (input.description !== undefined) set('description', input.description);
    if (input.status !== undefined) set('status', input.status);
    if (input.webhookUrl !== undefined) set('webhook_url', input.webhookUrl);
    const { rowCount } = await client.query(
      `UPDATE workflows SET ${[...sets, 'version = version + 1', 'updated_at = now()'].join(', ')} WHERE user_id = $1 AND id = $2`,
      params,
    );
    if (rowCount === 0) return null;
    if (input.steps !== undefined) {
      await client.query(`DELETE FROM workflow_steps WHERE user_id = $1 AND workflow_id = $2`, [userId, id]);
      await this.insertSteps(client, userId, id, 0, input.steps);
    }
    return this.get(userId, id, client);
  }

  /** Appends a step; null when the workflow does not exist for this user. */
  async addStep(client: PoolClient, userId: string, workflowId: string, step: StepInput): Promise<Workflow | null> {
    // Locks the workflow row so concurrent appends get distinct positions.
    const { rows } = await client.query(`SELECT 1 FROM workflows WHERE user_id = $1 AND id = $2 FOR UPDATE`, [userId, workflowId]);
    if (rows.length === 0) return null;
    const next = await client.query<{ position: number; count: number }>(
      `SELECT coalesce(max(position) + 1, 0)::int AS position, count(*)::int AS count FROM workflow_steps WHERE user_id = $1 AND workflow_id = $2`,
      [userId, workflowId],
    );
    if (next.rows[0]!.count >= MAX_STEPS) throw new TooManyStepsError(workflowId);
    await this.insertSteps(client, userId, workflowId, next.rows[0]!.position, [step]);
    await client.query(`UPDATE workflows SET version = version + 1, updated_at = now() WHERE user_id = $1 AND id = $2`, [userId, workflowId]);
    return this.get(userId, workflowId, client);
  }

  /** Removes a step; null when the workflow or the step does not exist for this user. */
  async removeStep(client: PoolClient, userId: string, workflowId: string, stepId: string): Promise<Workflow | null> {
    const { rowCount } = await client.query(`DELETE FROM workflow_steps WHERE user_id = $1 AND workflow_id = $2 AND id = $3`, [userId, workflowId, stepId]);
    if (rowCount === 0) return null;
    await client.query(`UPDATE workflows SET version = version + 1, updated_at = now() WHERE user_id = $1 AND id = $2`, [userId, workflowId]);
    return this.get(userId, workflowId, client);
  }

  async delete(client: PoolClient, userId: string, id: string): Promise<boolean> {
    const { rowCount } = await client.query(`DELETE FROM workflows WHERE user_id = $1 AND id = $2`, [userId, id]);
    return rowCount === 1;
  }

  private async insertSteps(client: PoolClient, userId: string, workflowId: string, firstPosition: number, steps: readonly StepInput[]): Promise<Step[]> {
    if (steps.length === 0) return [];
    const inserted = steps.map((s, i) => ({ id: randomUUID(), position: firstPosition + i, name: s.name, kind: s.kind, config: s.config }));
    // One round trip for all steps: unnest over parallel arrays.
    await client.query(
      `INSERT INTO workflow_steps (user_id, workflow_id, id, position, name, kind, config)
       SELECT $1, $2, * FROM unnest($3::uuid[], $4::int[], $5::text[], $6::text[], $7::jsonb[])`,
      [
        userId,
        workflowId,
        inserted.map((s) => s.id),
        inserted.map((s) => s.position),
        inserted.map((s) => s.name),
        inserted.map((s) => s.kind),
        inserted.map((s) => JSON.stringify(s.config)),
      ],
    );
    return inserted;
  }
}
