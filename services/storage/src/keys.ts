import { randomUUID } from 'node:crypto';

/** Object categories: the first segment of every key (seed 001 organises uploads by type and date). */
export const OBJECT_TYPES = ['general', 'avatars', 'documents', 'images', 'exports'] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

/**
 * Reduces a user-supplied file name to characters that are safe in a key and
 * in a URL: accents folded, anything else outside [A-Za-z0-9._-] becomes `-`,
 * no leading dots (no hidden files, no `..`), at most 100 characters.
 */
export function safeName(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? '';
  const cleaned = base
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/-+\./g, '.')
    .replace(/^[.-]+/, '')
    .slice(0, 100)
    .replace(/[.-]+$/, '');
  return cleaned || 'file';
}

/** `<type>/<yyyy-mm-dd>/<uuid>-<safe-name>`, dated in UTC. */
export function objectKey(type: ObjectType, fileName: string, now = new Date(), id: string = randomUUID()): string {
  return `${type}/${now.toISOString().slice(0, 10)}/${id}-${safeName(fileName)}`;
}
