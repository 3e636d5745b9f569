import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { PGliteDialect } from './pglite-dialect.ts';
import type { ProjectionStore } from './port.ts';
import { SqlProjectionStore } from './sql-store.ts';

export interface PGliteStoreOptions {
  /**
   * Directory holding the database files; created when missing. Omit for an in-memory database
   * that is gone at `close()`.
   */
  dataDir?: string;
  /**
   * An instance created by the caller (e.g. from a data-directory dump); `dataDir` is then
   * ignored. The store takes ownership and closes it at `close()`.
   */
  pglite?: PGlite;
}

/**
 * Embedded adapter: PostgreSQL compiled to WebAssembly, in this process, running the same
 * migrations and SQL as the production adapter. One session, so calls run one at a time; one
 * process at a time may open a data directory.
 */
export async function createPGliteProjectionStore(
  options: PGliteStoreOptions = {},
): Promise<ProjectionStore> {
  const pglite = options.pglite ?? (await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {}));
  await pglite.waitReady;
  const name = options.pglite
    ? 'PGlite'
    : options.dataDir
      ? `PGlite at ${options.dataDir}`
      : 'in-memory PGlite';
  return new SqlProjectionStore({
    db: new Kysely<unknown>({ dialect: new PGliteDialect(pglite) }),
    name,
    // PGlite runs in this process: the only way to lose it is to close it.
    isUnavailable: () => pglite.closed,
  });
}
