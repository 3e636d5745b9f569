/**
 * The contract of `ProjectionStore`, run against every adapter: each adapter's test file calls
 * `projectionStoreContract` with a harness that makes a fresh database per test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BuildStatus, JobStatus } from '../../shared/build-state.ts';
import { InvalidInputError, NotFoundError } from '../../shared/errors.ts';
import {
  ProjectExistsError,
  StoreUnavailableError,
  type BuildProjection,
  type BuildRecord,
  type JobProjection,
  type ProjectionStore,
} from '../../adapters/projections/port.ts';
import { seededRandom, shuffle, type StoreHarness, type TestDatabase } from './harness.ts';

const BUILD_STATUSES: readonly BuildStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'errored',
];
const JOB_STATUSES: readonly JobStatus[] = ['pending', 'queued', 'running', 'succeeded', 'failed', 'skipped'];
const T0 = Date.parse('2026-01-01T00:00:00.000Z');

function build(projectId: string, id: string, overrides: Partial<BuildProjection> = {}): BuildProjection {
  return {
    id,
    projectId,
    ref: 'refs/heads/main',
    branch: 'main',
    event: 'push',
    status: 'queued',
    version: 1,
    createdAt: new Date(T0).toISOString(),
    workflowId: id,
    problems: [],
    ...overrides,
  };
}

function job(key: string, overrides: Partial<JobProjection> = {}): JobProjection {
  return { key, name: key, needs: [], status: 'pending', attempt: 0, ...overrides };
}

export function projectionStoreContract(harness: () => StoreHarness): void {
  let database: TestDatabase;
  let store: ProjectionStore;
  const opened: ProjectionStore[] = [];

  async function open(): Promise<ProjectionStore> {
    const s = await database.open();
    opened.push(s);
    return s;
  }

  async function project(repo = 'acme/web'): Promise<string> {
    return store.createProject({
      repo,
      cloneUrl: `https://example.invalid/${repo}.git`,
      webhookSecretRef: `ref:${repo}`,
    });
  }

  beforeEach(async () => {
    database = await harness().database();
    store = await open();
    await store.migrate();
  });

  afterEach(async () => {
    for (const s of opened.splice(0)) await s.close();
  });

  describe('migrations', () => {
    it('are applied once; applying again, or after a restart, is a no-op that keeps the data', async () => {
      const fresh = await harness().database();
      const first = await fresh.open();
      opened.push(first);
      expect(await first.migrate()).toEqual(['0001_initial']);
      expect(await first.migrate()).toEqual([]);
      const id = await first.createProject({ repo: 'acme/api', cloneUrl: 'u', webhookSecretRef: 'r' });
      await first.close();
      const again = await fresh.open();
      opened.push(again);
      expect(await again.migrate()).toEqual([]);
      expect((await again.getProject(id))?.repo).toBe('acme/api');
    });
  });

  describe('projects', () => {
    it('creates, gets, lists and finds by repo case-insensitively, with defaults', async () => {
      const web = await project('acme/web');
      const api = await store.createProject({
        repo: 'acme/api',
        cloneUrl: 'https://example.invalid/api.git',
        webhookSecretRef: 'vault:kv/api',
        pipelinePath: 'ci/pipeline.yaml',
        tenant: 'acme',
        weight: 3,
      });
      expect(web).not.toBe(api);
      expect(await store.getProject(web)).toMatchObject({
        id: web,
        repo: 'acme/web',
        webhookSecretRef: 'ref:acme/web',
        pipelinePath: '.ci.yaml',
        tenant: 'default',
        weight: 1,
      });
      expect(await store.getProject(api)).toMatchObject({
        pipelinePath: 'ci/pipeline.yaml',
        tenant: 'acme',
        weight: 3,
      });
      expect((await store.findProjectByRepo('ACME/Web'))?.id).toBe(web);
      expect((await store.listProjects()).map((p) => p.repo)).toEqual(['acme/api', 'acme/web']);
      expect(Date.parse((await store.getProject(web))!.createdAt)).not.toBeNaN();
    });

    it('answers undefined for unknown projects and refuses a repo registered twice', async () => {
      await project('acme/web');
      expect(await store.getProject('no-such-project')).toBeUndefined();
      expect(await store.findProjectByRepo('acme/nothing')).toBeUndefined();
      await expect(project('Acme/WEB')).rejects.toBeInstanceOf(ProjectExistsError);
      await expect(
        store.createProject({ repo: 'a/b', cloneUrl: 'u', webhookSecretRef: 'r', weight: 0 }),
      ).rejects.toThrow(InvalidInputError);
      expect(await store.listProjects()).toHaveLength(1);
    });
  });

  describe('builds', () => {
    it('inserts, then replaces the whole snapshot only with a newer version', async () => {
      const p = await project();
      const first = build(p, 'b1', { commitSha: 'abc', actor: 'alice', message: 'queued by push' });
      expect(await store.upsertBuild(first)).toEqual({ applied: true, number: 1 });
      expect(await store.getBuild('b1')).toEqual({ ...first, number: 1 });

      const running = build(p, 'b1', {
        version: 5,
        status: 'running',
        startedAt: new Date(T0 + 1000).toISOString(),
      });
      expect(await store.upsertBuild(running)).toEqual({ applied: true, number: 1 });
      // Fields absent from the newer snapshot are cleared, not merged.
      expect(await store.getBuild('b1')).toEqual({ ...running, number: 1 });

      expect(await store.upsertBuild({ ...first, version: 4, status: 'succeeded' })).toEqual({
        applied: false,
        number: 1,
      });
      expect(await store.upsertBuild({ ...running, status: 'failed' })).toEqual({
        applied: false,
        number: 1,
      });
      expect((await store.getBuild('b1'))?.status).toBe('running');

      const errored = build(p, 'b1', {
        version: 9,
        status: 'errored',
        finishedAt: new Date(T0 + 2000).toISOString(),
        problems: [{ file: '.ci.yaml', line: 3, col: 5, message: 'unknown key "stpes"' }],
      });
      await store.upsertBuild(errored);
      expect(await store.getBuild('b1')).toEqual({ ...errored, number: 1 });
    });

    it('keeps the first project of a build and rejects unknown projects and bad versions', async () => {
      const p = await project('acme/web');
      const q = await project('acme/api');
      await store.upsertBuild(build(p, 'b1'));
      await store.upsertBuild(build(q, 'b1', { version: 2 }));
      expect((await store.getBuild('b1'))?.projectId).toBe(p);
      await expect(store.upsertBuild(build('no-such-project', 'b2'))).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.upsertBuild(build(p, 'b3', { version: 1.5 }))).rejects.toBeInstanceOf(
        InvalidInputError,
      );
      expect(await store.getBuild('b2')).toBeUndefined();
    });

    it('converges to the highest version under shuffled, repeated and concurrent updates (property)', async () => {
      const p = await project();
      const random = seededRandom(20260101);
      for (let iteration = 0; iteration < 200; iteration++) {
        const id = `prop-${iteration}`;
        const snapshots = randomHistory(p, id, random);
        const writes = shuffle([...snapshots, ...snapshots.filter(() => random.next() < 0.5)], random);
        // Apply in randomly sized batches; writes within a batch race each other.
        while (writes.length > 0) {
          const batch = writes.splice(0, 1 + random.int(3));
          await Promise.all(
            batch.map(async ({ snapshot, jobs }) => {
              await store.upsertBuild(snapshot);
              await store.upsertJobs(id, snapshot.version, jobs);
            }),
          );
        }
        const newest = snapshots.at(-1)!;
        const stored = await store.getBuild(id);
        expect(stored).toEqual({ ...newest.snapshot, number: iteration + 1 });
        expect(await store.listJobs(id)).toEqual(
          newest.jobs.map((j) => ({ ...j, buildId: id, version: newest.snapshot.version })),
        );
      }
    }, 120_000);

    it('numbers the builds of each project 1..n without gaps under concurrent first inserts', async () => {
      const projects = await Promise.all(['acme/a', 'acme/b', 'acme/c'].map((r) => project(r)));
      const random = seededRandom(7);
      const firsts = projects.flatMap((p) => Array.from({ length: 40 }, (_, i) => build(p, `${p}-${i}`)));
      // Some builds are also inserted twice at once (a retried activity racing the original).
      const doubles = firsts
        .filter(() => random.next() < 0.25)
        .map((b) => ({ ...b, version: 2, status: 'running' as const }));
      const results = await Promise.all(
        shuffle([...firsts, ...doubles], random).map((b) => store.upsertBuild(b)),
      );
      expect(results.every((r) => r.number >= 1)).toBe(true);
      for (const p of projects) {
        const page = await store.listBuilds(p, { limit: 100 });
        expect(page.builds.map((b) => b.number).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
      }
      for (const d of doubles)
        expect(await store.getBuild(d.id)).toMatchObject({ version: 2, status: 'running' });
    });
  });

  describe('listing builds', () => {
    it('pages newest first by number, with filters and an end', async () => {
      const p = await project();
      const other = await project('acme/other');
      for (let i = 0; i < 60; i++) {
        await store.upsertBuild(
          build(p, `b${i}`, {
            branch: i % 3 === 0 ? 'main' : 'dev',
            status: BUILD_STATUSES[i % BUILD_STATUSES.length]!,
            event: i % 2 === 0 ? 'push' : 'pull_request',
          }),
        );
      }
      await store.upsertBuild(build(other, 'elsewhere'));

      const all = await collect(store, p, { limit: 25 });
      expect(all.map((b) => b.number)).toEqual(Array.from({ length: 60 }, (_, i) => 60 - i));

      const firstPage = await store.listBuilds(p, { limit: 30 });
      const secondPage = await store.listBuilds(p, { limit: 30, cursor: firstPage.nextCursor! });
      expect(secondPage.builds).toHaveLength(30);
      expect(secondPage.nextCursor).toBeUndefined();

      const expectIds = (pred: (i: number) => boolean): string[] =>
        Array.from({ length: 60 }, (_, i) => 59 - i)
          .filter(pred)
          .map((i) => `b${i}`);
      const ids = async (q: object): Promise<string[]> =>
        (await collect(store, p, { limit: 7, ...q })).map((b) => b.id);
      expect(await ids({ branch: 'main' })).toEqual(expectIds((i) => i % 3 === 0));
      expect(await ids({ status: 'failed' })).toEqual(expectIds((i) => i % 6 === 3));
      expect(await ids({ event: 'pull_request' })).toEqual(expectIds((i) => i % 2 === 1));
      expect(await ids({ branch: 'dev', event: 'push', status: 'running' })).toEqual(
        expectIds((i) => i % 3 !== 0 && i % 2 === 0 && i % 6 === 1),
      );
      expect(await store.listBuilds(p, { limit: 10, branch: 'nowhere' })).toEqual({ builds: [] });
      expect(await store.listBuilds('no-such-project', { limit: 10 })).toEqual({ builds: [] });
    });

    it('never duplicates nor skips older rows while builds are inserted between pages', async () => {
      const p = await project();
      const before: string[] = [];
      for (let i = 0; i < 120; i++) {
        await store.upsertBuild(build(p, `old-${i}`, { branch: i % 2 ? 'main' : 'dev' }));
        before.push(`old-${i}`);
      }
      for (const filter of [{}, { branch: 'main' }]) {
        let inserted = 0;
        const seen: BuildRecord[] = [];
        let cursor: string | undefined;
        do {
          const inserts = Array.from({ length: 8 }, () =>
            store.upsertBuild(build(p, `new-${JSON.stringify(filter)}-${inserted++}`, { branch: 'main' })),
          );
          const [page] = await Promise.all([
            store.listBuilds(p, { limit: 25, ...filter, cursor }),
            ...inserts,
          ]);
          seen.push(...page.builds);
          cursor = page.nextCursor;
        } while (cursor);
        const ids = seen.map((b) => b.id);
        expect(new Set(ids).size).toBe(ids.length);
        const numbers = seen.map((b) => b.number);
        expect(numbers).toEqual([...numbers].sort((a, b) => b - a));
        const expectedOld = 'branch' in filter ? before.filter((_, i) => i % 2) : before;
        expect(ids.filter((id) => id.startsWith('old-'))).toEqual([...expectedOld].reverse());
      }
    });

    it('rejects a bad limit or cursor, naming the parameter', async () => {
      const p = await project();
      for (const limit of [0, -1, 1.5, 201]) {
        await expect(store.listBuilds(p, { limit })).rejects.toMatchObject({
          code: 'INVALID_INPUT',
          field: 'limit',
        });
      }
      for (const cursor of ['garbage', Buffer.from('{"n":"x"}').toString('base64url'), '']) {
        await expect(store.listBuilds(p, { limit: 5, cursor })).rejects.toMatchObject({ field: 'cursor' });
      }
    });
  });

  describe('jobs', () => {
    it('upserts jobs in pipeline order, each guarded by version', async () => {
      const p = await project();
      await store.upsertBuild(build(p, 'b1'));
      const jobs = [
        job('lint'),
        job('test', { needs: ['lint'] }),
        job('deploy', { needs: ['lint', 'test'] }),
      ];
      expect(await store.upsertJobs('b1', 1, jobs)).toBe(3);
      expect(await store.upsertJobs('b1', 1, jobs)).toBe(0);
      const failed = job('test', {
        needs: ['lint'],
        status: 'failed',
        attempt: 2,
        runnerId: 'runner-7',
        exitCode: 1,
        failureCode: 'STEP_FAILED',
        failedStep: 'npm test',
        message: 'step "npm test" exited 1',
        startedAt: new Date(T0 + 1000).toISOString(),
        finishedAt: new Date(T0 + 5000).toISOString(),
        logLocation: 'logs/b1/test/2/',
      });
      expect(await store.upsertJobs('b1', 3, [failed])).toBe(1);
      expect(
        await store.upsertJobs('b1', 2, [
          job('test', { status: 'running' }),
          job('deploy', { status: 'running' }),
        ]),
      ).toBe(1);
      expect(await store.listJobs('b1')).toEqual([
        { ...jobs[0], buildId: 'b1', version: 1 },
        { ...failed, buildId: 'b1', version: 3 },
        { ...job('deploy', { status: 'running' }), buildId: 'b1', version: 2 },
      ]);
      expect(await store.listJobs('no-such-build')).toEqual([]);
      expect(await store.upsertJobs('b1', 4, [])).toBe(0);
    });

    it('refuses jobs of an unknown build and duplicate keys in one write', async () => {
      const p = await project();
      await store.upsertBuild(build(p, 'b1'));
      await expect(store.upsertJobs('ghost', 1, [job('a')])).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.upsertJobs('b1', 1, [job('a'), job('a')])).rejects.toMatchObject({ field: 'jobs' });
      expect(await store.listJobs('b1')).toEqual([]);
    });
  });

  describe('webhook deliveries', () => {
    it('records a delivery once; a redelivery answers the first build', async () => {
      expect(await store.recordDelivery({ deliveryId: 'd1', event: 'push', buildId: 'b1' })).toEqual({
        recorded: true,
      });
      expect(await store.recordDelivery({ deliveryId: 'd1', event: 'push', buildId: 'b2' })).toEqual({
        recorded: false,
        buildId: 'b1',
      });
      expect(await store.findDelivery('d1')).toMatchObject({
        deliveryId: 'd1',
        event: 'push',
        buildId: 'b1',
      });
      expect(await store.findDelivery('d2')).toBeUndefined();
    });

    it('records exactly one of concurrent duplicate deliveries', async () => {
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          store.recordDelivery({ deliveryId: 'dup', event: 'push', buildId: `b${i}` }),
        ),
      );
      const winners = results.filter((r) => r.recorded);
      expect(winners).toHaveLength(1);
      const first = (await store.findDelivery('dup'))!.buildId;
      expect(results.filter((r) => !r.recorded)).toEqual(Array(11).fill({ recorded: false, buildId: first }));
    });
  });

  describe('lifecycle', () => {
    it('keeps the whole history across a restart with the database kept', async () => {
      const p = await project();
      await store.upsertBuild(build(p, 'b1', { version: 3, status: 'succeeded' }));
      await store.upsertJobs('b1', 3, [job('a', { status: 'succeeded', attempt: 1 })]);
      await store.recordDelivery({ deliveryId: 'd1', event: 'push', buildId: 'b1' });
      await store.close();
      await store.close(); // twice is fine

      const restarted = await open();
      expect(await restarted.migrate()).toEqual([]);
      expect(await restarted.getBuild('b1')).toMatchObject({ status: 'succeeded', number: 1, version: 3 });
      expect(await restarted.listJobs('b1')).toHaveLength(1);
      expect(await restarted.recordDelivery({ deliveryId: 'd1', event: 'push', buildId: 'other' })).toEqual({
        recorded: false,
        buildId: 'b1',
      });
      expect((await restarted.upsertBuild(build(p, 'b2'))).number).toBe(2);
    });

    it('fails every call with StoreUnavailableError once closed', async () => {
      await store.close();
      const err = await store.getBuild('b1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/closed/) });
      await expect(store.listProjects()).rejects.toBeInstanceOf(StoreUnavailableError);
    });
  });
}

/** Every build of a project through all pages. */
async function collect(
  store: ProjectionStore,
  projectId: string,
  query: { limit: number; branch?: string; status?: BuildStatus; event?: string },
): Promise<BuildRecord[]> {
  const out: BuildRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listBuilds(projectId, { ...query, cursor });
    out.push(...page.builds);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

/** 1..6 snapshots of one build with increasing versions, random fields and three jobs each. */
function randomHistory(
  projectId: string,
  id: string,
  random: ReturnType<typeof seededRandom>,
): { snapshot: BuildProjection; jobs: JobProjection[] }[] {
  const count = 1 + random.int(6);
  let version = random.int(3);
  return Array.from({ length: count }, () => {
    version += 1 + random.int(1000);
    const maybe = <T>(value: T): T | undefined => (random.next() < 0.5 ? value : undefined);
    const snapshot = build(projectId, id, {
      version,
      status: random.pick(BUILD_STATUSES),
      commitSha: maybe(`sha-${random.int(1e6)}`),
      branch: maybe(random.pick(['main', 'dev'])),
      tag: maybe('v1.0.0'),
      actor: maybe('bob'),
      startedAt: maybe(new Date(T0 + random.int(1e6)).toISOString()),
      finishedAt: maybe(new Date(T0 + 1e6 + random.int(1e6)).toISOString()),
      message: maybe(`message ${version}`),
      problems:
        random.next() < 0.2 ? [{ file: '.ci.yaml', line: 1 + random.int(9), col: 1, message: 'bad' }] : [],
    });
    for (const key of Object.keys(snapshot) as (keyof BuildProjection)[]) {
      if (snapshot[key] === undefined) delete snapshot[key];
    }
    const jobs = ['a', 'b', 'c'].map((key) => {
      const j = job(key, { status: random.pick(JOB_STATUSES), attempt: random.int(4) });
      if (random.next() < 0.5) j.exitCode = random.int(3);
      return j;
    });
    return { snapshot, jobs };
  });
}
