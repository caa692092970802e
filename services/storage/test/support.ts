import { createLogger } from '@noa/kit';
import { createTestDatabase, type TestDatabase } from '@noa/kit/testing';
import { runMigrations } from '@noa/migrate';

/** A fresh database `noa_test_<name>` with every migration applied (plain PostgreSQL: Citus files skipped). */
export async function migratedDatabase(name: string): Promise<TestDatabase> {
  const db = await createTestDatabase(name);
  await runMigrations({ databaseUrl: db.url, logger: createLogger('migrate-test', 'silent') });
  return db;
}
