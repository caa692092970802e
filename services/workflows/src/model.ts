import { z } from '@noa/kit';

export const WORKFLOW_STATUSES = ['draft', 'active', 'paused', 'archived'] as const;
export const MAX_STEPS = 100;

const stepInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  kind: z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, _ or -, starting with a letter (at most 64)'),
  config: z
    .record(z.string(), z.unknown())
    .default({})
    .refine((c) => JSON.stringify(c).length <= 16_384, 'must serialise to at most 16384 characters'),
});

const webhookUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2048);

/** Body of POST /api/workflows. */
export const createWorkflowBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(5000).default(''),
  status: z.enum(WORKFLOW_STATUSES).default('draft'),
  webhookUrl: webhookUrl.nullable().default(null),
  steps: z.array(stepInput).max(MAX_STEPS).default([]),
});
export type CreateWorkflow = z.infer<typeof createWorkflowBody>;

/** Body of PATCH /api/workflows/:id: any subset; `steps`, when given, replaces the whole list. */
export const updateWorkflowBody = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    description: z.string().max(5000),
    status: z.enum(WORKFLOW_STATUSES),
    webhookUrl: webhookUrl.nullable(),
    steps: z.array(stepInput).max(MAX_STEPS),
  })
  .partial()
  .refine((b) => Object.keys(b).length > 0, 'must change at least one field');
export type UpdateWorkflow = z.infer<typeof updateWorkflowBody>;

/** Body of POST /api/workflows/:id/steps: appends one step. */
export const addStepBody = stepInput;
export type StepInput = z.infer<typeof stepInput>;

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export interface Step {
  id: string;
  position: number;
  name: string;
  kind: string;
  config: Record<string, unknown>;
}

export interface Workflow {
  id: string;
  name: string;
  description: string;
  status: (typeof WORKFLOW_STATUSES)[number];
  webhookUrl: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  steps: Step[];
}

export type WorkflowSummary = Omit<Workflow, 'steps'> & { stepCount: number };

