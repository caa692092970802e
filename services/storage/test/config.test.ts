import assert from 'node:assert/strict';
import { ConfigError, loadEnv } from '@noa/kit';
import { storageEnv } from '../index';

const required = { DATABASE_URL: 'postgres://storage@pgbouncer:5432/noa', S3_BUCKET: 'noa-prod-objects', AWS_REGION: 'eu-west-1' };

describe('storage configuration', () => {
  it("defaults presigned URLs to the seed's one hour and uploads to 100 MiB, on AWS's endpoint", () => {
    const env = loadEnv(storageEnv, required);
    assert.equal(env.STORAGE_URL_TTL_SECONDS, 3600);
    assert.equal(env.STORAGE_MAX_UPLOAD_BYTES, 100 * 1024 * 1024);
    assert.equal(env.S3_ENDPOINT, undefined);
    assert.equal(env.S3_FORCE_PATH_STYLE, false);
  });

  it('names each bad variable and its value, all at once', () => {
    assert.throws(
      () => loadEnv(storageEnv, { ...required, S3_BUCKET: 'Not_A_Bucket', STORAGE_URL_TTL_SECONDS: '604801' }),
      (err: Error) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(err.message.includes('S3_BUCKET: must be an S3 bucket name (got "Not_A_Bucket")'), err.message);
        assert.ok(err.message.includes('STORAGE_URL_TTL_SECONDS: Too big: expected number to be <=604800 (got "604801")'), err.message);
        return true;
      },
    );
  });
});
