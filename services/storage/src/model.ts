import { z } from '@noa/kit';
import { OBJECT_TYPES } from './keys';

export const uploadBody = (maxBytes: number) =>
  z.strictObject({
    fileName: z.string().min(1).max(255),
    contentType: z
      .string()
      .max(255)
      .regex(/^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i, 'must be a MIME type such as image/png'),
    size: z
      .number()
      .int()
      .min(0)
      .max(maxBytes, `must be at most ${maxBytes} bytes`),
    type: z.enum(OBJECT_TYPES).default('general'),
  });

export const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});

export interface StoredObject {
  id: string;
  key: string;
  type: string;
  fileName: string;
  contentType: string;
  size: number;
  createdAt: string;
  /**
   * `uploaded` once the service has seen the bytes in S3 (the first read of
   * the object checks); `pending` before, including right after the upload
   * when nobody has read the object since.
   */
  status: 'pending' | 'uploaded';
  /** When the service first saw the bytes in S3; null while pending. */
  uploadedAt: string | null;
}

