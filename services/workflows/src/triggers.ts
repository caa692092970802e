import { newJob, type JobEnvelope } from '@noa/kit';
import type { Workflow } from './model';

export type WorkflowEvent = 'workflow.created' | 'workflow.updated' | 'workflow.deleted';

/** A job to publish: routing key = job type, body = the job envelope the worker reads. */
export interface JobMessage {
  readonly type: 'analytics' | 'webhook';
  readonly envelope: JobEnvelope;
}

/**
 * What a workflow write triggers. Every write feeds analytics (per-user daily
 * counters of workflow events); a workflow with a webhook URL also notifies
 * that URL with the event and the workflow's new state. Deleting notifies the
 * URL the workflow had. Job ids are fresh per publish: the worker deduplicates
 * redeliveries of one publish, not separate writes.
 */
export function jobsFor(event: WorkflowEvent, userId: string, workflow: Pick<Workflow, 'id' | 'name' | 'status' | 'version' | 'webhookUrl'>, now = new Date()): JobMessage[] {
  const envelope = (type: JobMessage['type'], payload: Record<string, unknown>): JobMessage => ({ type, envelope: newJob(type, userId, payload, now) });
  const jobs = [envelope('analytics', { event, occurredAt: now.toISOString() })];
  if (workflow.webhookUrl) {
    jobs.push(
      envelope('webhook', {
        url: workflow.webhookUrl,
        event,
        data: { workflowId: workflow.id, name: workflow.name, status: workflow.status, version: workflow.version },
      }),
    );
  }
  return jobs;
}
