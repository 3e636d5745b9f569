/**
 * Projection store benchmark against a real PostgreSQL (a private cluster started here):
 *
 * 1. writes/s: the projection writes of whole build lifecycles (insert queued, running + jobs,
 *    final + jobs), at concurrency 1 (latency) and 32 (throughput);
 * 2. `listBuilds` latency for a page of 50 with 1,000,000 builds in the table (bulk-loaded with
 *    `generate_series`): first pages and deep keyset pages, unfiltered and with each filter.
 *
 * `npx node bench/projections.ts [--builds 1000000] [--lifecycles 2000] [--queries 1000]`
 * Results go to bench/results/projections-<date>.json. Target: listBuilds p99 < 20 ms.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createPgProjectionStore } from '../adapters/projections/pg-store.ts';
import type { BuildProjection, BuildQuery, JobProjection } from '../adapters/projections/port.ts';
import { encodeCursor } from '../adapters/projections/rows.ts';
import { createDatabase, startPostgres } from '../infra/dev/postgres.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    builds: { type: 'string', default: '1000000' },
    lifecycles: { type: 'string', default: '2000' },
    queries: { type: 'string', default: '1000' },
  },
});
const TOTAL_BUILDS = Number(values.builds);
const LIFECYCLES = Number(values.lifecycles);
const QUERIES = Number(values.queries);
const PAGE = 50;
const log = (m: string): void => console.log(`[bench:projections] ${m}`);

const server = await startPostgres({ onProgress: log });
const url = await createDatabase(server.url, 'bench');
const store = createPgProjectionStore({ url, maxConnections: 32 });
const admin = new pg.Client({ connectionString: url });
await admin.connect();

try {
  await store.migrate();
  const { rows: pgVersion } = await admin.query<{ server_version: string }>('SHOW server_version');

  // One hot project holds most of the history; the rest is spread over nine others.
  const hot = await store.createProject({ repo: 'bench/hot', cloneUrl: 'u', webhookSecretRef: 'r' });
  const others = await Promise.all(
    Array.from({ length: 9 }, (_, i) =>
      store.createProject({ repo: `bench/p${i}`, cloneUrl: 'u', webhookSecretRef: 'r' }),
    ),
  );
  const otherCount = Math.floor((TOTAL_BUILDS * 0.4) / others.length);
  const hotCount = TOTAL_BUILDS - otherCount * others.length;
  const loadStarted = Date.now();
  await admin.query('SELECT setseed(0.42)');
  for (const [projectId, count] of [
    [hot, hotCount] as const,
    ...others.map((p) => [p, otherCount] as const),
  ]) {
    await bulkLoad(admin, projectId, count);
  }
  await admin.query('VACUUM ANALYZE builds');
  const { rows: loaded } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM builds');
  const loadSeconds = (Date.now() - loadStarted) / 1000;
  log(`loaded ${loaded[0]!.n} builds in ${loadSeconds.toFixed(1)} s`);

  const writes = {
    sequential: await lifecycles(hot, Math.min(LIFECYCLES, 500), 1, 'seq'),
    concurrent32: await lifecycles(hot, LIFECYCLES, 32, 'conc'),
  };
  log(
    `writes/s: ${writes.sequential.writesPerSecond} sequential, ${writes.concurrent32.writesPerSecond} at concurrency 32`,
  );

  const { rows: top } = await admin.query<{ n: string }>(
    'SELECT max(number) AS n FROM builds WHERE project_id = $1',
    [hot],
  );
  const newest = Number(top[0]!.n);
  const random = seeded(99);
  const deep = (): string => encodeCursor(1 + Math.floor(random() * (newest - PAGE)));
  const shapes: Record<string, () => Omit<BuildQuery, 'limit'>> = {
    'first page': () => ({}),
    'deep page': () => ({ cursor: deep() }),
    'branch=main, deep page': () => ({ branch: 'main', cursor: deep() }),
    'branch=feature-7 (1.25%), first page': () => ({ branch: 'feature-7' }),
    'status=failed, deep page': () => ({ status: 'failed', cursor: deep() }),
    'status=errored (2%), first page': () => ({ status: 'errored' }),
    'event=pull_request, deep page': () => ({ event: 'pull_request', cursor: deep() }),
    'branch=main + status=failed, deep page': () => ({ branch: 'main', status: 'failed', cursor: deep() }),
    'branch=feature-7 + status=errored, first page': () => ({ branch: 'feature-7', status: 'errored' }),
  };
  const lists: Record<string, ReturnType<typeof summarise>> = {};
  const all: number[] = [];
  for (const [name, shape] of Object.entries(shapes)) {
    for (let i = 0; i < 50; i++) await store.listBuilds(hot, { limit: PAGE, ...shape() }); // warm up
    const samples: number[] = [];
    for (let i = 0; i < QUERIES; i++) {
      const query = { limit: PAGE, ...shape() };
      const started = performance.now();
      await store.listBuilds(hot, query);
      samples.push(performance.now() - started);
    }
    lists[name] = summarise(samples);
    all.push(...samples);
    log(`listBuilds ${name}: p50 ${lists[name].p50} ms, p99 ${lists[name].p99} ms`);
  }
  const overall = summarise(all);
  log(`listBuilds overall p99 ${overall.p99} ms (target < 20 ms): ${overall.p99 < 20 ? 'met' : 'MISSED'}`);

  const results = {
    benchmark: 'projections',
    date: new Date().toISOString(),
    postgres: pgVersion[0]!.server_version,
    settings: 'private cluster, fsync=off, synchronous_commit=off, shared_buffers=256MB',
    buildsInTable: Number(loaded[0]!.n),
    hotProjectBuilds: hotCount,
    bulkLoadSeconds: Math.round(loadSeconds * 10) / 10,
    writes,
    listBuilds: { pageSize: PAGE, samplesPerShape: QUERIES, overall, byShape: lists, targetP99Ms: 20 },
  };
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `projections-${results.date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results written to ${file}`);
} finally {
  await admin.end();
  await store.close();
  await server.stop();
}

/**
 * `count` finished builds for one project in one statement: half on `main`, the rest over 40
 * feature branches; 80% succeeded, 12% failed, 4% cancelled, 2% errored, 2% still running;
 * a quarter are pull requests. Numbers 1..count, one build a minute.
 */
async function bulkLoad(client: pg.Client, projectId: string, count: number): Promise<void> {
  const started = Date.now();
  await client.query(
    `INSERT INTO builds (id, project_id, number, commit_sha, ref, branch, event, actor, status, version,
                         created_at, started_at, finished_at, workflow_id, problems)
     SELECT 'bulk-' || $1::text || '-' || g AS id, $1::text, g, md5(g::text), 'refs/heads/' || branch, branch,
            CASE WHEN r_event < 0.25 THEN 'pull_request' ELSE 'push' END,
            'bench',
            CASE WHEN r_status < 0.80 THEN 'succeeded' WHEN r_status < 0.92 THEN 'failed'
                 WHEN r_status < 0.96 THEN 'cancelled' WHEN r_status < 0.98 THEN 'errored' ELSE 'running' END,
            3, at, at + interval '2 seconds', at + interval '90 seconds', 'bulk-' || $1::text || '-' || g, '[]'::jsonb
     FROM (
       SELECT g, timestamptz '2024-01-01' + g * interval '1 minute' AS at,
              CASE WHEN random() < 0.5 THEN 'main' ELSE 'feature-' || floor(random() * 40)::int END AS branch,
              random() AS r_event, random() AS r_status
       FROM generate_series(1, $2::int) g
     ) rows`,
    [projectId, count],
  );
  log(`bulk-loaded ${count} builds for ${projectId} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Runs `count` build lifecycles through the store, `concurrency` at a time: 5 writes each
 * (insert queued; running + 5 jobs; final + 5 jobs). Returns writes/s and per-write latency.
 */
async function lifecycles(projectId: string, count: number, concurrency: number, tag: string) {
  const latencies: number[] = [];
  const timed = async <T>(write: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await write();
    latencies.push(performance.now() - started);
    return result;
  };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const id = `life-${tag}-${next++}`;
        const now = new Date().toISOString();
        const build: BuildProjection = {
          id,
          projectId,
          ref: 'refs/heads/main',
          branch: 'main',
          event: 'push',
          status: 'queued',
          version: 1,
          createdAt: now,
          workflowId: id,
          problems: [],
        };
        const jobs = (status: JobProjection['status']): JobProjection[] =>
          ['lint', 'build', 'test-1', 'test-2', 'deploy'].map((key) => ({
            key,
            name: key,
            needs: [],
            status,
            attempt: 1,
          }));
        await timed(() => store.upsertBuild(build));
        await timed(() => store.upsertBuild({ ...build, version: 2, status: 'running', startedAt: now }));
        await timed(() => store.upsertJobs(id, 2, jobs('running')));
        await timed(() =>
          store.upsertBuild({ ...build, version: 3, status: 'succeeded', startedAt: now, finishedAt: now }),
        );
        await timed(() => store.upsertJobs(id, 3, jobs('succeeded')));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    builds: count,
    concurrency,
    writes: latencies.length,
    writesPerSecond: Math.round(latencies.length / seconds),
    latencyMs: summarise(latencies),
  };
}

/** Deterministic generator for the cursors (mulberry32). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
