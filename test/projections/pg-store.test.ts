import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgProjectionStore } from '../../adapters/projections/pg-store.ts';
import { StoreUnavailableError, type ProjectionStore } from '../../adapters/projections/port.ts';
import { createDatabase, freePort, startPostgres } from '../../infra/dev/postgres.ts';
import { projectionStoreContract } from './contract.ts';
import { postgresHarness, type StoreHarness } from './harness.ts';

let harness: StoreHarness & { server: { url: string } };

beforeAll(async () => {
  harness = await postgresHarness();
});

afterAll(async () => {
  await harness?.dispose();
});

describe('PostgreSQL projection store', () => {
  projectionStoreContract(() => harness);

  it('serialises migrations started by several processes at once', async () => {
    const url = await createDatabase(harness.server.url, 'concurrent_migrations');
    const stores = Array.from({ length: 4 }, () => createPgProjectionStore({ url }));
    try {
      const applied = await Promise.all(stores.map((s) => s.migrate()));
      expect(applied.flat()).toEqual(['0001_initial']);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('throws StoreUnavailableError when nothing listens at the address', async () => {
    const store = createPgProjectionStore({ url: `postgres://postgres@127.0.0.1:${await freePort()}/kiln` });
    try {
      const err = await store.migrate().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as Error).message).toMatch(
        /^cannot reach PostgreSQL at 127\.0\.0\.1:\d+\/kiln \(migrate\): /,
      );
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL stopped and restarted under a running store', () => {
  let dataDir: string;
  let store: ProjectionStore;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-pg-restart-'));
  });

  afterAll(async () => {
    await store?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('fails fast with StoreUnavailableError while down, then recovers with the history intact', async () => {
    const first = await startPostgres({ dataDir });
    const url = await createDatabase(first.url, 'restart');
    store = createPgProjectionStore({ url, connectTimeoutMs: 2000 });
    await store.migrate();
    const projectId = await store.createProject({ repo: 'acme/web', cloneUrl: 'u', webhookSecretRef: 'r' });
    const build = {
      id: 'b1',
      projectId,
      ref: 'refs/heads/main',
      event: 'push',
      status: 'running' as const,
      version: 1,
      createdAt: new Date().toISOString(),
      workflowId: 'b1',
      problems: [],
    };
    await store.upsertBuild(build);
    await first.stop();

    for (const call of [() => store.getBuild('b1'), () => store.upsertBuild({ ...build, version: 2 })]) {
      const started = Date.now();
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect((err as Error).message).toMatch(/^cannot reach PostgreSQL at 127\.0\.0\.1:\d+\/restart/);
      expect(Date.now() - started).toBeLessThan(5000);
    }

    const second = await startPostgres({ dataDir, port: first.port });
    try {
      expect(await store.getBuild('b1')).toMatchObject({ status: 'running', version: 1, number: 1 });
      expect(await store.upsertBuild({ ...build, version: 2, status: 'succeeded' })).toEqual({
        applied: true,
        number: 1,
      });
    } finally {
      await store.close();
      await second.stop();
    }
  });
});
