import { createHash, randomUUID } from 'node:crypto';
import { z } from '@noa/kit';
import { PermanentJobError, requireDb, type JobHandler } from './handler';

const exportPayload = z.object({
  format: z.enum(['ndjson', 'csv']),
});

/** Exports larger than this are refused instead of being built in memory. */
export const MAX_EXPORT_ROWS = 10_000;

interface ExportRow {
  id: string;
  name: string;
  status: string;
  steps: number;
  created_at: Date;
  updated_at: Date;
}

/**
 * One CSV field (RFC 4180). A value a spreadsheet would read as a formula
 * (`=`, `+`, `-`, `@`, a tab or a carriage return first) is written with a
 * leading `'`, which spreadsheets show as text: a workflow named
 * `=HYPERLINK(...)` must not run when the export is opened (OWASP's CSV
 * injection advice). NDJSON exports carry every value as it is stored.
 */
const csvField = (value: string): string => {
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** Renders rows in the requested format; exported for its own tests. */
export function renderExport(format: 'ndjson' | 'csv', rows: readonly ExportRow[]): string {
  if (format === 'ndjson') {
    return rows
      .map((r) => JSON.stringify({ id: r.id, name: r.name, status: r.status, steps: r.steps, createdAt: r.created_at.toISOString(), updatedAt: r.updated_at.toISOString() }) + '\n')
      .join('');
  }
  const header = 'id,name,status,steps,created_at,updated_at\r\n';
  return header + rows.map((r) => [r.id, csvField(r.name), r.status, String(r.steps), r.created_at.toISOString(), r.updated_at.toISOString()].join(',') + '\r\n').join('');
}

/**
 * Data export: the user's workflows as NDJSON or CSV, stored with its row
 * count and SHA-256 in `exports` (a download service would serve it).
 */
export const exportHandler: JobHandler<z.infer<typeof exportPayload>> = {
  type: 'export',
  payload: exportPayload,
  transactional: true,
  async handle(job, ctx) {
    const db = requireDb(ctx);
    const { rows } = await db.query<ExportRow>(
      `SELECT w.id, w.name, w.status, w.created_at, w.updated_at,
              (SELECT count(*) FROM workflow_steps s WHERE s.user_id = w.user_id AND s.workflow_id = w.id)::int AS steps
         FROM workflows w
        WHERE w.user_id = $1
        ORDER BY w.created_at, w.id
        LIMIT $2`,
      [job.userId, MAX_EXPORT_ROWS + 1],
    );
    if (rows.length > MAX_EXPORT_ROWS) throw new PermanentJobError(`export of more than ${MAX_EXPORT_ROWS} workflows is not supported`);
    const content = renderExport(job.payload.format, rows);
    await db.query(
      `INSERT INTO exports (user_id, id, job_id, format, content, row_count, sha256) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [job.userId, randomUUID(), job.id, job.payload.format, content, rows.length, createHash('sha256').update(content).digest('hex')],
    );
  },
};
