import { randomUUID } from 'node:crypto';
import { z } from '@noa/kit';
import { requireDb, type JobHandler } from './handler';

const reportPayload = z.object({
  kind: z.literal('workflow-summary'),
});

/**
 * Report generation: a per-user summary of workflows (by status, with step
 * counts), computed on the user's own shard and stored in `reports`.
 */
export const reportHandler: JobHandler<z.infer<typeof reportPayload>> = {
  type: 'report',
  payload: reportPayload,
  transactional: true,
  async handle(job, ctx) {
    const db = requireDb(ctx);
    const { rows } = await db.query<{ status: string; workflows: string; steps: string }>(
      `SELECT w.status, count(DISTINCT w.id) AS workflows, count(s.id) AS steps
         FROM workflows w
         LEFT JOIN workflow_steps s ON s.user_id = w.user_id AND s.workflow_id = w.id
        WHERE w.user_id = $1
        GROUP BY w.status
        ORDER BY w.status`,
      [job.userId],
    );
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, { workflows: Number(r.workflows), steps: Number(r.steps) }]));
    const data = {
      totalWorkflows: rows.reduce((n, r) => n + Number(r.workflows), 0),
      totalSteps: rows.reduce((n, r) => n + Number(r.steps), 0),
      byStatus,
    };
    await db.query(`INSERT INTO reports (user_id, id, job_id, kind, data) VALUES ($1, $2, $3, $4, $5)`, [
      job.userId,
      randomUUID(),
      job.id,
      job.payload.kind,
      JSON.stringify(data),
    ]);
  },
};
