import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';

export interface S3Options {
  /** The bucket's region. */
  readonly region: string;
  /** An S3-compatible endpoint for local use; unset in the cluster (AWS's regional endpoint). */
  readonly endpoint?: string;
  /** Path-style addressing (`host/bucket/key`), needed by most local S3 servers. Default false. */
  readonly forcePathStyle?: boolean;
  /** Static credentials for local use; unset in the cluster, where the default chain finds the pod's IRSA role. */
  readonly credentials?: S3ClientConfig['credentials'];
}

/**
 * The S3 client the service presigns with. Checksums only when an operation
 * requires them: since SDK v3.729 the default adds a CRC32 of the *empty*
 * presign-time body to PUT URLs, and S3 would then reject every real upload.
 */
export function createS3Client(options: S3Options): S3Client {
  return new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? false,
    credentials: options.credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}
