import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgProjectionStore } from '../../adapters/projections/pg-store.ts';
import { createPGliteProjectionStore } from '../../adapters/projections/pglite-store.ts';
import type { ProjectionStore } from '../../adapters/projections/port.ts';
import { createDatabase, startPostgres, type RunningPostgres } from '../../infra/dev/postgres.ts';

/** One empty database; `open` may be called again after the previous store closed (a restart). */
export interface TestDatabase {
  open(): Promise<ProjectionStore>;
}

/** Makes a new, empty, unmigrated database per test, for one kind of adapter. */
export interface StoreHarness {
  database(): Promise<TestDatabase>;
  dispose(): Promise<void>;
}

/** A real PostgreSQL cluster for this test file, and a fresh database on it per test. */
export async function postgresHarness(): Promise<StoreHarness & { server: RunningPostgres }> {
  const server = await startPostgres();
  let count = 0;
  return {
    server,
    async database() {
      const url = await createDatabase(server.url, `contract_${++count}`);
      return { open: async () => createPgProjectionStore({ url }) };
    },
    dispose: () => server.stop(),
  };
}

/**
 * PGlite in a data directory per test. Creating a PGlite cluster takes seconds, so one empty
 * cluster is dumped once and each test's directory starts from that dump.
 */
export async function pgliteHarness(): Promise<StoreHarness> {
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-pglite-'));
  const template = await PGlite.create();
  const dump = await template.dumpDataDir('none');
  await template.close();
  let count = 0;
  return {
    async database() {
      const dataDir = join(scratch, `db-${++count}`);
      let loaded = false;
      return {
        async open() {
          const pglite = await PGlite.create(loaded ? { dataDir } : { dataDir, loadDataDir: dump });
          loaded = true;
          return createPGliteProjectionStore({ pglite });
        },
      };
    },
    dispose: () => rm(scratch, { recursive: true, force: true }),
  };
}

/** Small seeded generator (mulberry32): the same seed gives the same sequence on every run. */
export function seededRandom(seed: number): {
  next(): number;
  int(max: number): number;
  pick<T>(items: readonly T[]): T;
} {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (max: number): number => Math.floor(next() * max);
  return { next, int, pick: (items) => items[int(items.length)]! };
}

/** Fisher–Yates with the given generator. */
export function shuffle<T>(items: T[], random: { int(max: number): number }): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
