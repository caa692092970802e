import { boolVar, commonEnv, envSchema, intVar, pgEnv, z } from '@noa/kit';

/** storage's environment: the shared contract (services/README.md) plus the bucket. */
export const storageEnv = envSchema(
  commonEnv,
  pgEnv,
  z.object({
    /** The private bucket objects go to. */
    S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    /** The bucket's region. */
    AWS_REGION: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as eu-west-1'),
    /** S3-compatible endpoint for local use; unset in the cluster. */
    S3_ENDPOINT: z.url().optional(),
    /** Path-style addressing, needed by most local S3 servers. */
    S3_FORCE_PATH_STYLE: boolVar().default(false),
    /** Presigned URL lifetime (seconds; seed 001: one hour; SigV4 allows at most 7 days). */
    STORAGE_URL_TTL_SECONDS: intVar(1, 604_800).default(3600),
    /** Largest upload a URL is issued for (bytes; a single PUT is limited to 5 GiB). */
    STORAGE_MAX_UPLOAD_BYTES: intVar(0, 5 * 1024 ** 3).default(100 * 1024 * 1024),
  }),
);

export type StorageEnv = z.infer<typeof storageEnv>;
