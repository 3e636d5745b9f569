import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLogSinkFactory } from '../../adapters/logs/file-logs.ts';
import type { KubernetesRunnerBackend } from '../../adapters/runner/kubernetes/kubernetes-runner-backend.ts';
import type { RunnerBackend } from '../../adapters/runner/port.ts';
import { dataDirs } from '../../workers/data-dirs.ts';
import { createTestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { startKubeFixture, until, type KubeFixture } from './kube-fixture.ts';

let k: KubeFixture;
let kiln: Harness;

/**
 * Kiln's build workflow over Kubernetes pods. The fake node decides a pod's fate by its labels,
 * so jobs are routed to backends that differ only in those labels: jobs named `fails-*` exit 3,
 * the first attempt of `lost-*` jobs holds (until the test deletes its pod).
 */
function routedBackend(backends: {
  normal: KubernetesRunnerBackend;
  failing: KubernetesRunnerBackend;
  holding: KubernetesRunnerBackend;
}): RunnerBackend {
  const { normal, failing, holding } = backends;
  return {
    name: 'kubernetes',
    start: (spec) => {
      if (spec.jobKey.startsWith('fails')) return failing.start(spec);
      if (spec.jobKey.startsWith('lost') && spec.attempt === 1) return holding.start(spec);
      return normal.start(spec);
    },
    wait: (id, options) => normal.wait(id, options),
    cancel: (id) => normal.cancel(id),
    destroy: (id) => normal.destroy(id),
  };
}

beforeAll(async () => {
  k = await startKubeFixture();
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-data-'));
  const logSinks = createFileLogSinkFactory(dataDirs(dataDir).logs);
  const router = routedBackend({
    normal: k.backend({}, { logSinks }),
    failing: k.backend({ extraLabels: { 'kiln.dev/fake-exit-code': '3' } }, { logSinks }),
    holding: k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } }, { logSinks }),
  });
  kiln = await startHarness({ dataDir, wrapRunner: () => router });
}, 600_000);
afterAll(async () => {
  await kiln?.stop();
  await k?.stop();
});

describe('builds on Kubernetes runners', () => {
  it('fails a job on a non-zero exit, naming the step, without retrying it', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `
jobs:
  fails-build: { steps: [{ name: compile, run: 'make' }, { name: unit tests, run: 'make test' }] }
  ok: { steps: [{ run: 'echo ok' }] }
`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('failed');
    const job = Object.fromEntries(build.jobs.map((j) => [j.key, j]));
    expect(job['fails-build']).toMatchObject({
      status: 'failed',
      attempt: 1,
      exitCode: 3,
      failureCode: 'STEP_FAILED',
      failedStep: 'unit tests',
    });
    expect(job.ok).toMatchObject({ status: 'succeeded', attempt: 1 });
    // destroyRunner removed every pod of the build.
    await until(async () => ((await k.pods(`kiln.dev/build=${id}`)).length === 0 ? true : undefined));
  });

  it('relaunches a job whose pod was deleted from outside as attempt 2', async () => {
    const repo = createTestRepo({ '.ci.yaml': `jobs:\n  lost-job: { steps: [{ run: 'echo hi' }] }\n` });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const pod = await until(async () => {
      const [first] = await k.pods(`kiln.dev/build=${id},kiln.dev/attempt=1`);
      return first?.status?.phase === 'Running' ? first : undefined;
    });
    await k.core.deleteNamespacedPod({ namespace: k.namespace, name: pod.metadata?.name ?? '' });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('succeeded');
    expect(build.jobs[0]).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(build.jobs[0]!.runnerId).toMatch(/-lost-job-2$/);
  });
});
