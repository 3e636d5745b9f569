import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApi } from '../../adapters/runner/kubernetes/kube-api.ts';
import { podName, secretName } from '../../adapters/runner/kubernetes/names.ts';
import type { RunnerProgress, RunnerSpec } from '../../adapters/runner/port.ts';
import { KilnError, NotFoundError } from '../../shared/errors.ts';
import { startKubeFixture, until, type KubeFixture } from './kube-fixture.ts';

let k: KubeFixture;
beforeAll(async () => {
  k = await startKubeFixture();
}, 600_000);
afterAll(async () => k?.stop());

let counter = 0;
function spec(overrides: Partial<RunnerSpec> = {}): RunnerSpec {
  counter += 1;
  const buildId = `kb-${counter}`;
  return {
    runnerId: `${buildId}-test-1`,
    buildId,
    jobKey: 'test',
    attempt: 1,
    checkout: {
      cloneUrl: 'https://git.example.com/acme/app.git',
      sha: 'a'.repeat(40),
      ref: 'refs/heads/main',
    },
    steps: [
      { name: 'install', run: 'npm ci', env: {} },
      { name: 'unit tests', run: 'npm test', env: {} },
    ],
    env: {},
    timeoutMs: 60_000,
    secretEnv: { TOKEN: 'hunter2-very-secret' },
    ...overrides,
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return err instanceof KilnError ? err.code : `not a KilnError: ${String(err)}`;
  }
  return 'resolved';
}

describe('Kubernetes runner backend on a real API server', () => {
  it('creates a pod that runs to success, reporting progress', async () => {
    const backend = k.backend();
    const s = spec();
    await backend.start(s);
    const progress: RunnerProgress[] = [];
    const outcome = await backend.wait(s.runnerId, { onProgress: (p) => progress.push(p) });
    expect(outcome).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(progress).toContainEqual({ phase: 'running', step: 'unit tests' });
    const pod = await k.core.readNamespacedPod({ namespace: k.namespace, name: podName(s.runnerId) });
    expect(pod.status?.phase).toBe('Succeeded');
    expect(pod.spec?.runtimeClassName).toBe('gvisor');
    // The secret value is in the Secret, not in the pod.
    expect(JSON.stringify(pod)).not.toContain('hunter2');
    const secret = await k.core.readNamespacedSecret({
      namespace: k.namespace,
      name: secretName(s.runnerId),
    });
    expect(Buffer.from(secret.data?.TOKEN ?? '', 'base64').toString()).toBe('hunter2-very-secret');
    await backend.destroy(s.runnerId);
    await backend.destroy(s.runnerId); // twice is fine
    expect(await k.pods(`kiln.dev/build=${s.buildId}`)).toEqual([]);
  });

  it('reports a non-zero exit as a failed step', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-exit-code': '3' } });
    const s = spec();
    await backend.start(s);
    expect(await backend.wait(s.runnerId, {})).toEqual({
      status: 'failed',
      exitCode: 3,
      failedStep: 'unit tests',
    });
    await backend.destroy(s.runnerId);
  });

  it('launches one pod for a duplicate start', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const s = spec();
    await Promise.all([backend.start(s), backend.start(s), k.backend().start(s)]);
    await backend.start(s);
    expect(await k.pods(`kiln.dev/build=${s.buildId}`)).toHaveLength(1);
    await backend.destroy(s.runnerId);
  });

  it('reports a pod deleted by someone else as RUNNER_LOST', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const s = spec();
    await backend.start(s);
    const running = new Promise<void>((resolve) => {
      void backend
        .wait(s.runnerId, { onProgress: (p) => p.phase === 'running' && resolve() })
        .catch(() => undefined);
    });
    const waiting = backend.wait(s.runnerId, {});
    await running;
    await k.core.deleteNamespacedPod({ namespace: k.namespace, name: podName(s.runnerId) });
    expect(await codeOf(waiting)).toBe('RUNNER_LOST');
    // A wait started afterwards knows too: the Secret records that the runner was started.
    expect(await codeOf(k.backend({}, { missingPodMs: 500 }).wait(s.runnerId, {}))).toBe('RUNNER_LOST');
    await backend.destroy(s.runnerId);
  });

  it('starts no second pod for a runner whose pod is gone, and reports it RUNNER_LOST', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } }, { missingPodMs: 500 });
    const s = spec();
    await backend.start(s);
    await until(async () => ((await k.pods(`kiln.dev/build=${s.buildId}`)).length === 1 ? true : undefined));
    await k.core.deleteNamespacedPod({
      namespace: k.namespace,
      name: podName(s.runnerId),
      gracePeriodSeconds: 0,
    });
    await until(async () => ((await k.pods(`kiln.dev/build=${s.buildId}`)).length === 0 ? true : undefined));
    // A retried start (its first run went on unwatched): the Secret says it ran; no step runs again.
    await backend.start(s);
    await k.backend().start(s);
    expect(await k.pods(`kiln.dev/build=${s.buildId}`)).toEqual([]);
    expect(await codeOf(backend.wait(s.runnerId, {}))).toBe('RUNNER_LOST');
    expect(await k.pods(`kiln.dev/build=${s.buildId}`)).toEqual([]);
    await backend.destroy(s.runnerId);
  });

  it('cancels: the pod goes away and a waiter reports CANCELLED', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const s = spec();
    await backend.start(s);
    const waiting = k.backend().wait(s.runnerId, {});
    await until(async () =>
      (await k.pods(`kiln.dev/build=${s.buildId}`))[0]?.status?.phase === 'Running' ? true : undefined,
    );
    await backend.cancel(s.runnerId);
    expect(await codeOf(waiting)).toBe('CANCELLED');
    await until(async () => ((await k.pods(`kiln.dev/build=${s.buildId}`)).length === 0 ? true : undefined));
    await backend.cancel(s.runnerId); // again, on a runner without a pod
    await backend.cancel('never-started-1');
    await backend.destroy(s.runnerId);
    await backend.destroy('never-started-1');
  });

  it('reattaches a wait from a fresh backend instance to the same pod', async () => {
    const first = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const s = spec();
    await first.start(s);
    // The first worker waits, then dies (its wait is abandoned).
    const dying = new AbortController();
    const firstWait = first.wait(s.runnerId, {
      signal: dying.signal,
      onProgress: (p) => p.phase === 'running' && dying.abort(new Error('worker died')),
    });
    await expect(firstWait).rejects.toThrow('worker died');
    // A new worker, with its own client, waits for the same runner; the job then finishes.
    const second = k.backend();
    const progress: RunnerProgress[] = [];
    const secondWait = second.wait(s.runnerId, { onProgress: (p) => progress.push(p) });
    await until(async () => (progress.length > 0 ? true : undefined));
    await k.core.patchNamespacedPod(
      {
        namespace: k.namespace,
        name: podName(s.runnerId),
        body: { metadata: { labels: { 'kiln.dev/fake-hold': 'false' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(await secondWait).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(progress[0]).toEqual({ phase: 'running', step: 'unit tests' });
    expect(await k.pods(`kiln.dev/build=${s.buildId}`)).toHaveLength(1);
    await second.destroy(s.runnerId);
  });

  it('streams each container log to the sink, and a wait taken over by another worker repeats no line', async () => {
    // The fake node serves two lines per container, both with the same timestamp.
    const first = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const s = spec();
    await first.start(s);
    const dying = new AbortController();
    const firstWait = first.wait(s.runnerId, { signal: dying.signal });
    // The first worker has read (and checkpointed) the running last step's lines, then dies.
    await until(async () => {
      const pod = await k.core.readNamespacedPod({ namespace: k.namespace, name: podName(s.runnerId) });
      const checkpoint = pod.metadata?.annotations?.['kiln.dev/log-checkpoint'] ?? '';
      return /"step-2":\{"n":2,"ts":/.test(checkpoint) ? true : undefined;
    });
    dying.abort(new Error('worker died'));
    await expect(firstWait).rejects.toThrow('worker died');
    const second = k.backend();
    const secondWait = second.wait(s.runnerId, {});
    await k.core.patchNamespacedPod(
      {
        namespace: k.namespace,
        name: podName(s.runnerId),
        body: { metadata: { labels: { 'kiln.dev/fake-hold': 'false' } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(await secondWait).toEqual({ status: 'succeeded', exitCode: 0 });
    const lines = readFileSync(join(k.logsDir, s.buildId, s.jobKey, '1.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; stream: string; text: string });
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    const container = (title: string) => [title, 'fake log line 1', 'fake log line 2', '✔ exit 0'];
    expect(lines.map((l) => l.text)).toEqual([
      ...container('▶ checkout'),
      ...container('▶ step: install'),
      ...container('▶ step: unit tests'),
    ]);
    await second.destroy(s.runnerId);
  });

  it('ends the log of a runner destroyed while its wait was cancelled', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const s = spec({ steps: [{ name: 'only', run: 'sleep 1000', env: {} }] });
    await backend.start(s);
    const cancelled = new AbortController();
    const waiting = backend.wait(s.runnerId, {
      signal: cancelled.signal,
      onProgress: (p) => p.phase === 'running' && cancelled.abort(new Error('activity cancelled')),
    });
    await expect(waiting).rejects.toThrow('activity cancelled');
    await backend.destroy(s.runnerId);
    const lines = readFileSync(join(k.logsDir, s.buildId, s.jobKey, '1.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; stream: string; text: string });
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.at(-1)).toMatchObject({ stream: 'system', text: expect.stringMatching(/^✖ stopped/) });
  });

  it('keeps waiting across watches the server closes', async () => {
    const api = new KubeApi({ kubeconfigPath: k.kube.kubeconfigPath, watchTimeoutSeconds: 1 });
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-duration': '4s' } }, { api });
    const s = spec();
    await backend.start(s);
    expect(await backend.wait(s.runnerId, {})).toEqual({ status: 'succeeded', exitCode: 0 });
    await backend.destroy(s.runnerId);
  });

  it('rejects a wait for a runner that was never started with NotFoundError', async () => {
    await expect(k.backend().wait('never-started-2', {})).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fails the start of a pod no node can take, after the scheduling timeout', async () => {
    const backend = k.backend(
      { nodeSelector: { 'kiln.dev/pool': 'does-not-exist' } },
      { scheduleTimeoutMs: 1_500 },
    );
    const s = spec();
    await backend.start(s);
    expect(await codeOf(backend.wait(s.runnerId, {}))).toBe('RUNNER_START_FAILED');
    await backend.destroy(s.runnerId);
  });

  it('refuses a pod the API server rejects as RUNNER_START_FAILED', async () => {
    const backend = k.backend({ resourceClasses: { small: { cpu: 'a lot', memory: '1Gi' } } });
    expect(await codeOf(backend.start(spec({ secretEnv: undefined })))).toBe('RUNNER_START_FAILED');
  });
});
