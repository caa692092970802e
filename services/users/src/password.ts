import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters, stored with every hash so they can be raised later without breaking old hashes. */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  /** Block size. */
  readonly r: number;
  /** Parallelisation. */
  readonly p: number;
}

/**
 * N=2^15, r=8: 32 MiB and ≈0.1–0.2 s of one core per hash on the 2-core
 * dev machine (measured with load average 4), so a users replica handles
 * roughly 5–10 logins/s per core; the gateway's auth rate limit keeps
 * guessing far below that. OWASP's scrypt floor is N=2^17 with r=8
 * (128 MiB), which would cap a 512 MiB pod at a handful of concurrent
 * logins; this trades some margin for that headroom. Raise N here;
 * `needsRehash` lets logins upgrade stored hashes. scrypt runs on libuv's
 * thread pool (async API), so hashing never blocks the event loop.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const KEY_LENGTH = 32;
const SALT_LENGTH = 16;
/** Longest accepted password (bytes): bounds the work an attacker can ask for. */
export const MAX_PASSWORD_BYTES = 1024;

function scrypt(password: string, salt: Buffer, params: ScryptParams, keyLength: number): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFKC'), salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$<salt base64url>$<hash base64url>` with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LENGTH);
  const key = await scrypt(password, salt, params, KEY_LENGTH);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return undefined;
  return { params: { N, r, p }, salt: Buffer.from(parts[4]!, 'base64url'), key: Buffer.from(parts[5]!, 'base64url') };
}

/** Constant-time check of a password against a stored hash, using the parameters stored with it. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parse(stored);
  if (!parsed || parsed.key.length === 0) return false;
  let candidate: Buffer;
  try {
    candidate = await scrypt(password, parsed.salt, parsed.params, parsed.key.length);
  } catch {
    return false; // impossible parameters (e.g. N not a power of two): a corrupt hash matches nothing
  }
  return timingSafeEqual(candidate, parsed.key);
}

/** Whether a stored hash was made with weaker parameters than `params`. */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parse(stored);
  return !parsed || parsed.params.N < params.N || parsed.params.r < params.r || parsed.params.p < params.p;
}
