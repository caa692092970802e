/** @noa/worker: the job consumer, its handlers and the app the entry point runs. */
export { buildApp, type WorkerApp, type WorkerDeps } from './src/app';
export { JobConsumer, type JobConsumerOptions } from './src/consumer';
export { defaultHandlers, PermanentJobError, type JobContext, type JobHandler } from './src/handlers';
export { workerEnv, type WorkerEnv } from './src/config';
