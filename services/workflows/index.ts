/** @noa/workflows: the workflows API (buildApp is used by the entry point and by end-to-end tests). */
export { buildApp, type WorkflowsDeps } from './src/app';
export { JobOutbox, outboxBackoffMs, type JobOutboxOptions, type RelayResult } from './src/outbox';
export { workflowsEnv, type WorkflowsEnv } from './src/config';
export { jobsFor, type WorkflowEvent } from './src/triggers';
