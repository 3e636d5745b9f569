import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisQuotaBroker } from '../../adapters/quota/redis-broker.ts';
import { signGithubPayload } from '../../api/github/signature.ts';
import { startRedis, type RunningRedis } from '../../infra/dev/redis.ts';
import { createTestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';

let redis: RunningRedis;
let kiln: Harness;

beforeAll(async () => {
  redis = await startRedis();
  const quota = await createRedisQuotaBroker({
    url: redis.url,
    config: {
      pools: [
        { name: 'default', capacity: 1 },
        { name: 'large', capacity: 4, labels: ['x86'] },
      ],
    },
  });
  kiln = await startHarness({
    quota,
    webhookRatePerMinute: 3,
    projects: [
      {
        repo: 'flood/app',
        cloneUrl: 'file:///nonexistent',
        webhookSecret: 'flood-secret-123',
        pipelinePath: '.ci.yaml',
      },
    ],
  });
}, 60_000);
afterAll(async () => {
  await kiln?.stop();
  await redis?.stop();
});

describe('fair-share runner slots (Redis)', () => {
  it('queues jobs beyond the pool capacity, shows their position, and runs them all', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  one: { steps: [{ run: 'sleep 1' }] }\n  two: { steps: [{ run: 'sleep 1' }] }\n  three: { steps: [{ run: 'sleep 1' }] }\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const seen = await kiln.waitFor(id, (b) =>
      b.jobs.some((j) => j.status === 'queued' && j.queuePosition !== undefined),
    );
    // Positions are 1..n among the waiting jobs (a job just granted has none any more).
    const positions = seen.jobs
      .flatMap((j) => (j.queuePosition === undefined ? [] : [j.queuePosition]))
      .sort();
    expect(positions).toEqual(positions.map((_, i) => i + 1));
    expect(seen.jobs.filter((j) => j.status === 'running').length).toBeLessThanOrEqual(1);

    const queue = await (await kiln.api('/queue')).json();
    expect(queue).toMatchObject({
      pools: expect.arrayContaining([expect.objectContaining({ pool: 'default', capacity: 1 })]),
    });

    const build = await kiln.waitFor(id);
    expect(build.status).toBe('succeeded');
    // Capacity 1: the three jobs ran one after another, never two at once.
    const spans = build.jobs.map((j) => [Date.parse(j.startedAt!), Date.parse(j.finishedAt!)] as const);
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++)
      expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1] - 1500);

    const metrics = await (await kiln.app.request('/metrics')).text();
    expect(metrics).toMatch(/kiln_queue_grants_total\{pool="default",tenant="default"\} [1-9]/);
  });

  it('fails a job no pool can ever serve at once, naming why', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  gpu: { runs-on: gpu, steps: [{ run: 'true' }] }\n  big: { resources: large, steps: [{ run: 'true' }] }\n  fine: { resources: large, runs-on: x86, steps: [{ run: 'true' }] }\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    const job = Object.fromEntries(build.jobs.map((j) => [j.key, j]));
    expect(job.gpu).toMatchObject({ status: 'failed', failureCode: 'QUOTA_UNSATISFIABLE', attempt: 1 });
    expect(job.gpu!.message).toContain('gpu');
    expect(job.big).toMatchObject({ status: 'failed', failureCode: 'QUOTA_UNSATISFIABLE' });
    expect(job.fine!.status).toBe('succeeded');
  });

  it('answers a webhook flood from one organisation with 429 and Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const body = JSON.stringify({ zen: 'hi', repository: { full_name: 'flood/app' } });
      const res = await kiln.app.request('/webhooks/github', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-github-event': 'ping',
          'x-github-delivery': randomUUID(),
          'x-hub-signature-256': signGithubPayload('flood-secret-123', body),
        },
        body,
      });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });
});
