/** @noa/storage: presigned S3 uploads and downloads (buildApp is used by the entry point and by end-to-end tests). */
export { buildApp, type StorageDeps } from './src/app';
export { storageEnv, type StorageEnv } from './src/config';
export { createS3Client, type S3Options } from './src/s3';
export { objectKey, safeName, OBJECT_TYPES, type ObjectType } from './src/keys';
