import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';

/** Numbered, forward-only SQL files, applied in name order. */
export const MIGRATIONS_DIR = join(import.meta.dirname, 'migrations');
const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;

/**
 * Applies the pending migrations of `dir` with Kysely's migrator: each file in its own
 * transaction, under an advisory lock (concurrent starts are serialised), recorded in
 * `schema_migrations`. Applying twice is a no-op. Returns the names applied now.
 * Forward-only: migrations have no `down`, and one older than the last applied is refused.
 */
export async function migrateToLatest(db: Kysely<unknown>, dir: string = MIGRATIONS_DIR): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider: new SqlFileMigrationProvider(dir),
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(failed ? `migration ${failed} failed: ${reason}` : `migrations failed: ${reason}`, {
      cause: error,
    });
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Reads `NNNN_name.sql` files; each runs statement by statement (PGlite's extended protocol takes one). */
class SqlFileMigrationProvider implements MigrationProvider {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.#dir)).filter((f) => f.endsWith('.sql')).sort();
    const misnamed = files.find((f) => !MIGRATION_FILE.test(f));
    if (misnamed) throw new Error(`migration file ${misnamed} is not named NNNN_lower_snake_case.sql`);
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const statements = splitStatements(await readFile(join(this.#dir, file), 'utf8'));
      migrations[file.replace(/\.sql$/, '')] = {
        async up(db) {
          for (const statement of statements) await sql.raw(statement).execute(db);
        },
      };
    }
    return migrations;
  }
}

/**
 * Splits a SQL script on top-level semicolons, skipping those inside quotes, dollar-quoted bodies
 * and comments. Comment-only pieces are dropped.
 */
export function splitStatements(script: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  while (i < script.length) {
    const rest = script.slice(i);
    const dollar = /^\$[A-Za-z_]*\$/.exec(rest)?.[0];
    if (rest.startsWith('--')) i = skipTo(script, '\n', i + 2);
    else if (rest.startsWith('/*')) i = skipTo(script, '*/', i + 2);
    else if (script[i] === "'" || script[i] === '"') i = skipTo(script, script[i]!, i + 1);
    else if (dollar !== undefined) i = skipTo(script, dollar, i + dollar.length);
    else if (script[i] === ';') {
      statements.push(script.slice(start, i));
      start = ++i;
    } else i++;
  }
  statements.push(script.slice(start));
  return statements.map((s) => s.trim()).filter((s) => stripComments(s).trim() !== '');
}

/** Index just past the next `token` at or after `from` (or the end of the script). */
function skipTo(script: string, token: string, from: number): number {
  const at = script.indexOf(token, from);
  return at === -1 ? script.length : at + token.length;
}

function stripComments(statement: string): string {
  return statement.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
