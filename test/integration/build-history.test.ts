import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@temporalio/client';
import { createApp } from '../../api/app.ts';
import { BuildService } from '../../api/build-service.ts';
import { signGithubPayload } from '../../api/github/signature.ts';
import { createDatabase, startPostgres, type RunningPostgres } from '../../infra/dev/postgres.ts';
import type { BuildState } from '../../shared/build-state.ts';
import { createTestRepo, type TestRepo } from '../helpers/git-repo.ts';
import { API_TOKEN, startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { eventually } from '../helpers/processes.ts';

const SECRET = 'history-webhook-secret';
let postgres: RunningPostgres;
let databaseUrl: string;
let kiln: Harness;
let repo: TestRepo & { sha: string };
// An explicit cluster directory survives stop(), so the last test can restart the same server.
// Its parent must be traversable by the server's own user (PostgreSQL refuses to run as root).
const clusterParent = mkdtempSync(join(tmpdir(), 'kiln-pg-history-'));
chmodSync(clusterParent, 0o755);
const clusterDir = join(clusterParent, 'cluster');

beforeAll(async () => {
  postgres = await startPostgres({ dataDir: clusterDir });
  databaseUrl = await createDatabase(postgres.url, 'history');
  repo = createTestRepo({
    '.ci.yaml': `jobs:\n  a: { steps: [{ run: 'echo a' }] }\n  b: { needs: a, steps: [{ run: 'echo b' }] }\n`,
  });
  kiln = await startHarness({
    databaseUrl,
    projects: [{ repo: 'acme/history', cloneUrl: repo.url, webhookSecret: SECRET, pipelinePath: '.ci.yaml' }],
  });
}, 120_000);
afterAll(async () => {
  await kiln?.stop();
  await postgres?.stop();
  rmSync(clusterParent, { recursive: true, force: true });
});

const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await res).json() as Promise<T>;

async function projectId(): Promise<string> {
  const { projects } = await json<{ projects: { id: string; repo: string }[] }>(kiln.api('/projects'));
  return projects.find((p) => p.repo === 'acme/history')!.id;
}

function push(delivery: string): Promise<Response> {
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    after: repo.sha,
    repository: { full_name: 'acme/history' },
  });
  return Promise.resolve(
    kiln.app.request('/webhooks/github', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': delivery,
        'x-hub-signature-256': signGithubPayload(SECRET, body),
      },
      body,
    }),
  );
}

/** Waits until the projection (not the workflow) shows the build final. */
async function projectedFinal(buildId: string): Promise<void> {
  expect(
    await eventually(async () => {
      const build = await kiln.store.getBuild(buildId);
      return build !== undefined && ['succeeded', 'failed', 'errored', 'cancelled'].includes(build.status);
    }, 30_000),
  ).toBe(true);
}

describe('build history in PostgreSQL', () => {
  it('projects every build with a per-project number and serves the history API', async () => {
    const id = await projectId();
    const first = await json<{ buildId: string; number: number }>(push(randomUUID()));
    const second = await json<{ buildId: string; number: number }>(push(randomUUID()));
    expect(second.number).toBe(first.number + 1);
    await kiln.waitFor(first.buildId);
    await kiln.waitFor(second.buildId);
    await projectedFinal(second.buildId);

    const page = await json<{
      builds: { id: string; number: number; status: string }[];
      nextCursor?: string;
    }>(kiln.api(`/projects/${id}/builds?branch=main&limit=1`));
    expect(page.builds).toMatchObject([{ id: second.buildId, number: second.number, status: 'succeeded' }]);
    const older = await json<{ builds: { id: string }[] }>(
      kiln.api(`/projects/${id}/builds?limit=1&cursor=${page.nextCursor}`),
    );
    expect(older.builds[0]!.id).toBe(first.buildId);

    const { jobs } = await json<{ jobs: { key: string; status: string }[] }>(
      kiln.api(`/builds/${first.buildId}/jobs`),
    );
    expect(jobs.map((j) => [j.key, j.status])).toEqual([
      ['a', 'succeeded'],
      ['b', 'succeeded'],
    ]);
    const stored = await kiln.store.listJobs(first.buildId);
    expect(stored.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);

    const badge = await kiln.app.request(`/projects/${id}/badge.svg?branch=main`);
    expect(badge.headers.get('content-type')).toContain('image/svg+xml');
    expect(await badge.text()).toContain('succeeded');
  });

  it('still shows a build and recognises its redelivery once Temporal no longer has it', async () => {
    const delivery = randomUUID();
    const { buildId } = await json<{ buildId: string }>(push(delivery));
    await kiln.waitFor(buildId);
    await projectedFinal(buildId);

    // An API over the same history but a namespace that never saw the build: what every API sees
    // once the execution is past Temporal's retention (deleting it for real takes the server ~30 s).
    const forgetful = createApp({
      builds: new BuildService({
        client: new Client({ connection: kiln.client.connection, namespace: 'default' }),
        store: kiln.store,
        taskQueue: kiln.taskQueues.orchestrator,
        settings: kiln.settings,
      }),
      projects: kiln.projects,
      store: kiln.store,
      secrets: kiln.secrets,
      quota: kiln.quota,
      rateLimiter: kiln.rateLimiter,
      webhookRatePerMinute: 600,
      logs: kiln.logs,
      apiToken: API_TOKEN,
      checkTemporal: async () => {},
    });
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    const res = await forgetful.request(`/builds/${buildId}`, { headers: auth });
    expect(res.status).toBe(200);
    const build = (await res.json()) as BuildState;
    expect(build).toMatchObject({
      id: buildId,
      status: 'succeeded',
      repo: 'acme/history',
      commitSha: repo.sha,
    });
    expect(build.number).toBeGreaterThan(0);
    expect(build.jobs.map((j) => j.status)).toEqual(['succeeded', 'succeeded']);

    const body = JSON.stringify({
      ref: 'refs/heads/main',
      after: repo.sha,
      repository: { full_name: 'acme/history' },
    });
    const again = await forgetful.request('/webhooks/github', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': delivery,
        'x-hub-signature-256': signGithubPayload(SECRET, body),
      },
      body,
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ buildId, duplicate: true });
    // Nothing was started in the namespace that had forgotten it.
    await expect(
      new Client({ connection: kiln.client.connection, namespace: 'default' }).workflow
        .getHandle(buildId)
        .describe(),
    ).rejects.toThrow();
  });

  it('keeps the history when the API and workers restart', async () => {
    const { buildId, number } = await json<{ buildId: string; number: number }>(push(randomUUID()));
    await kiln.waitFor(buildId);
    await projectedFinal(buildId);
    const { dataDir, taskQueues } = kiln;
    await kiln.stop({ keepData: true });
    kiln = await startHarness({ databaseUrl, dataDir, taskQueues });

    const id = await projectId();
    const { builds } = await json<{ builds: { id: string; number: number }[] }>(
      kiln.api(`/projects/${id}/builds`),
    );
    expect(builds.find((b) => b.id === buildId)?.number).toBe(number);
    // The secret survived too: a signed delivery is still accepted.
    expect((await push(randomUUID())).status).toBe(201);
  });

  it('registers projects without ever returning their secret', async () => {
    const created = await kiln.api('/projects', {
      method: 'POST',
      body: JSON.stringify({
        repo: 'acme/new',
        cloneUrl: repo.url,
        webhookSecret: 'a-very-long-secret-value',
      }),
    });
    expect(created.status).toBe(201);
    const text = await created.text();
    expect(text).not.toContain('a-very-long-secret-value');
    expect(JSON.parse(text)).toMatchObject({ repo: 'acme/new', pipelinePath: '.ci.yaml' });
    const listed = await (await kiln.api('/projects')).text();
    expect(listed).not.toContain('a-very-long-secret-value');

    const duplicate = await kiln.api('/projects', {
      method: 'POST',
      body: JSON.stringify({
        repo: 'ACME/new',
        cloneUrl: repo.url,
        webhookSecret: 'another-long-secret-value',
      }),
    });
    expect(duplicate.status).toBe(409);
  });

  it('rejects bad query parameters with 400 naming the parameter', async () => {
    const id = await projectId();
    for (const [query, name] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['status=bogus', 'status'],
      ['cursor=%%%', 'cursor'],
    ] as const) {
      const res = await kiln.api(`/projects/${id}/builds?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain(name);
    }
    expect((await kiln.api('/projects/00000000-0000-0000-0000-000000000000/builds')).status).toBe(404);
  });

  it('answers 503 while the database is down, starts nothing half-way, and builds finish anyway', async () => {
    const slow = createTestRepo({ '.ci.yaml': `jobs:\n  slow: { steps: [{ run: 'sleep 1' }] }\n` });
    const running = await kiln.startBuild({ cloneUrl: slow.url });
    await kiln.waitFor(running, (b) => b.status === 'running');
    const { port, dataDir } = postgres;
    await postgres.stop();
    try {
      // The live state comes from the workflow, which never waits on its history.
      expect((await kiln.waitFor(running)).status).toBe('succeeded');

      const res = await kiln.api('/projects');
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('STORE_UNAVAILABLE');

      const delivery = randomUUID();
      const hook = await push(delivery);
      expect(hook.status).toBe(503);
      await expect(kiln.client.workflow.getHandle(`gh-${delivery}`).describe()).rejects.toThrow();
    } finally {
      postgres = await startPostgres({ port, dataDir });
    }
    expect(await eventually(async () => (await kiln.api('/projects')).status === 200, 20_000)).toBe(true);
    // The projection writes were retried and caught up.
    await projectedFinal(running);
    expect((await kiln.store.getBuild(running))?.status).toBe('succeeded');
  });
});
