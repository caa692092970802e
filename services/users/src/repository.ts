import { randomUUID } from 'node:crypto';
import type { PgPool } from '@noa/kit';

/** A user as stored (the password hash never leaves this module's callers). */
export interface UserRecord {
  readonly id: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly displayName: string;
  readonly bio: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** What the API returns for a user. */
export interface Profile {
  readonly id: string;
  readonly email: string;
  readonly displayName: string;
  readonly bio: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export function toProfile(user: UserRecord): Profile {
  return {
    id: user.id,
    email: user.email,
    displayName: user.displayName,
    bio: user.bio,
    createdAt: user.createdAt.toISOString(),
    updatedAt: user.updatedAt.toISOString(),
  };
}

export class EmailTakenError extends Error {
  constructor() {
    super('email already registered');
    this.name = 'EmailTakenError';
  }
}

const COLUMNS = `id, email, password_hash AS "passwordHash", display_name AS "displayName", bio,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Lower-cased and trimmed: the key of `user_emails`. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * Users in PostgreSQL/Citus. Every statement is parameterised. Lookups by
 * email go through `user_emails` and then `users` by id — two single-shard
 * queries, since the two tables are distributed on different columns and a
 * join between them would not be co-located on Citus.
 */
export function createUserRepository(pool: PgPool) {
  return {
    /** Inserts the email claim and the user in one transaction; EmailTakenError if the email exists. */
    async create(input: { email: string; passwordHash: string; displayName: string }): Promise<UserRecord> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        // The id is chosen here, not by a column default, so Citus can route
        // the insert by its distribution column without evaluating anything.
        const inserted = await client.query<UserRecord>(
          `INSERT INTO users (id, email, password_hash, display_name) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
          [randomUUID(), input.email, input.passwordHash, input.displayName],
        );
        const user = inserted.rows[0]!;
        const claimed = await client.query(
          'INSERT INTO user_emails (email, user_id) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING',
          [input.email, user.id],
        );
        if (claimed.rowCount !== 1) {
          await client.query('ROLLBACK');
          throw new EmailTakenError();
        }
        await client.query('COMMIT');
        return user;
      } catch (err) {
        if (!(err instanceof EmailTakenError)) await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },

    async findByEmail(email: string): Promise<UserRecord | undefined> {
      const claim = await pool.query<{ userId: string }>('SELECT user_id AS "userId" FROM user_emails WHERE email = $1', [email]);
      if (claim.rows.length === 0) return undefined;
      return this.findById(claim.rows[0]!.userId);
    },

    async findById(id: string): Promise<UserRecord | undefined> {
      const { rows } = await pool.query<UserRecord>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
      return rows[0];
    },

    /** Updates the given profile fields; undefined when the user does not exist. */
    async updateProfile(id: string, changes: { displayName?: string; bio?: string }): Promise<UserRecord | undefined> {
      const { rows } = await pool.query<UserRecord>(
        `UPDATE users
            SET display_name = COALESCE($2, display_name),
                bio = COALESCE($3, bio),
                updated_at = now()
          WHERE id = $1
          RETURNING ${COLUMNS}`,
        [id, changes.displayName ?? null, changes.bio ?? null],
      );
      return rows[0];
    },

    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await pool.query('UPDATE users SET password_hash = $2 WHERE id = $1', [id, passwordHash]);
    },
  };
}

export type UserRepository = ReturnType<typeof createUserRepository>;
