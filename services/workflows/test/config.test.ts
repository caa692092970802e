import assert from 'node:assert/strict';
import { ConfigError, loadEnv } from '@noa/kit';
import { workflowsEnv } from '../src/config';

const required = {
  DATABASE_URL: 'postgres://noa@127.0.0.1:5432/noa',
  REDIS_CLUSTER_NODES: '127.0.0.1:7000',
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672/noa',
};

describe('workflows configuration', () => {
  it('caches a workflow for 10 minutes by default (seed 003)', () => {
    assert.equal(loadEnv(workflowsEnv, required).WORKFLOW_CACHE_TTL_S, 600);
  });

  it('refuses private webhook targets unless told otherwise, and names a bad switch and its value', () => {
    assert.equal(loadEnv(workflowsEnv, required).WEBHOOK_ALLOW_PRIVATE_NETWORKS, false);
    assert.equal(loadEnv(workflowsEnv, { ...required, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true' }).WEBHOOK_ALLOW_PRIVATE_NETWORKS, true);
    assert.throws(
      () => loadEnv(workflowsEnv, { ...required, WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'maybe' }),
      (err: Error) => err instanceof ConfigError && /WEBHOOK_ALLOW_PRIVATE_NETWORKS/.test(err.message) && /maybe/.test(err.message),
    );
  });

  it('keeps the publish timeout below the 15 s the writing request owns its outbox rows', () => {
    assert.equal(loadEnv(workflowsEnv, required).JOB_PUBLISH_TIMEOUT_MS, 3000);
    assert.equal(loadEnv(workflowsEnv, { ...required, JOB_PUBLISH_TIMEOUT_MS: '10000' }).JOB_PUBLISH_TIMEOUT_MS, 10_000);
    assert.throws(
      () => loadEnv(workflowsEnv, { ...required, JOB_PUBLISH_TIMEOUT_MS: '20000' }),
      (err: Error) => err instanceof ConfigError && err.message.includes('JOB_PUBLISH_TIMEOUT_MS: Too big: expected number to be <=10000 (got "20000")'),
    );
  });
});
