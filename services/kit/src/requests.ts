import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { HttpError } from './http.js';

/**
 * The header the gateway sets to the verified JWT's subject (it strips any
 * client-supplied value). Only the gateway can reach the API services (their
 * NetworkPolicies), so behind it this header is the caller's identity.
 */
export const USER_ID_HEADER = 'x-user-id';

const uuid = z.uuid();

/**
 * The caller's user id from `x-user-id`, lower-cased (ids are compared and
 * used in cache keys as text); 401 when it is missing or not a user id.
 */
export function forwardedUserId(request: FastifyRequest): string {
  const value = request.headers[USER_ID_HEADER];
  if (typeof value !== 'string' || !uuid.safeParse(value).success) {
    throw new HttpError(401, `missing or invalid ${USER_ID_HEADER} header`);
  }
  return value.toLowerCase();
}

/** A UTF-16 surrogate without its other half: UTF-8 encodes every one as U+FFFD. */
export const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A NUL, or an unpaired surrogate. */
const UNSTORABLE = new RegExp(`\\u0000|${UNPAIRED_SURROGATE.source}`);

/**
 * The path of the first string in `value` (an object key or a string value,
 * at any depth) that PostgreSQL cannot store: text and jsonb refuse NUL
 * (U+0000), jsonb refuses an unpaired surrogate (and text would silently
 * store U+FFFD instead). Undefined when there is none.
 */
export function findUnstorableText(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${path}.${i}`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (UNSTORABLE.test(key)) return `${path} (key ${JSON.stringify(key).slice(0, 100)})`;
    const found = findUnstorableText(item, `${path}.${key}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The message for text {@link findUnstorableText} found at `path`. */
export const UNSTORABLE_TEXT_RULE = 'must not contain NUL (U+0000) characters or unpaired UTF-16 surrogates';

/**
 * 400 naming the field when request input holds text PostgreSQL cannot
 * store (see {@link findUnstorableText}), instead of the 500 its INSERT
 * would end in. `where` is `body`, `query` or `params`.
 */
export function assertStorableText(value: unknown, where: string): void {
  const at = findUnstorableText(value, where);
  if (at !== undefined) throw new HttpError(400, `${at}: ${UNSTORABLE_TEXT_RULE}`);
}

/**
 * Turns the first zod issue into `body.steps.0.kind (Bad Kind): must be ...`:
 * the field's path, the value received (when there was one) and the rule.
 */
export function describeIssue(where: string, error: z.ZodError, input: unknown): string {
  const issue = error.issues[0]!;
  const path = [where, ...issue.path.map(String)].join('.');
  let value: unknown = input;
  for (const segment of issue.path) value = value && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[segment as PropertyKey] : undefined;
  const shown = value === undefined || (typeof value === 'object' && value !== null) ? '' : ` (${JSON.stringify(value).slice(0, 100)})`;
  return `${path}${shown}: ${issue.message}`;
}

/**
 * Validates request input (`where` is `body`, `query` or `params`); 400
 * naming the field and the value otherwise, and for text PostgreSQL cannot
 * store ({@link assertStorableText}).
 */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  assertStorableText(value, where);
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new HttpError(400, describeIssue(where, result.error, value));
  return result.data;
}

const KEYSET_CURSOR = /^((\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3})\d{3}Z\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** An opaque keyset cursor for `<created_at with microseconds>|<id>` (base64url). */
export function encodeKeysetCursor(raw: string): string {
  return Buffer.from(raw, 'utf8').toString('base64url');
}

/**
 * The creation time (microseconds kept) and id of a keyset cursor, or null
 * for anything {@link encodeKeysetCursor} did not write: a real instant (the
 * date round-trips, so no 2024-13-45) from 1970 on, and a UUID. A tampered
 * cursor is then the caller's 400, never a failed cast in PostgreSQL.
 */
export function decodeKeysetCursor(cursor: string): { createdAt: string; id: string } | null {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = KEYSET_CURSOR.exec(raw);
  if (!match || Number(match[2]) < 1970) return null;
  const millis = `${match[1]}Z`;
  const parsed = new Date(millis);
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString() !== millis) return null;
  return { createdAt: raw.slice(0, raw.indexOf('|')), id: match[3]! };
}
