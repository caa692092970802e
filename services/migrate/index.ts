/** @noa/migrate: the schema of every service and the runner that applies it. */
export {
  runMigrations,
  loadMigrations,
  MigrationError,
  DEFAULT_MIGRATIONS_DIR,
  MIGRATION_LOCK_KEY,
  type Migration,
  type MigrationResult,
  type RunMigrationsArgs,
} from './src/runner.js';
