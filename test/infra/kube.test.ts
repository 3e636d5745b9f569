import { CoreV1Api, KubeConfig, VersionApi, type V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_POD_LABELS, startKube, type RunningKube } from '../../infra/dev/kube.ts';

const NAMESPACE = 'kube-test';

let kube: RunningKube;
let core: CoreV1Api;

beforeAll(async () => {
  kube = await startKube({
    podLogLines: ['first line', 'second line'],
    onProgress: (message) => console.log(`[kube] ${message}`),
  });
  const config = new KubeConfig();
  config.loadFromFile(kube.kubeconfigPath);
  core = config.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
}, 3_600_000);

afterAll(async () => {
  await kube?.stop();
});

/** A bare pod like the ones Kiln's runner creates: one container, never restarted. */
function pod(name: string, labels: Record<string, string> = {}): V1Pod {
  return {
    metadata: { name, labels },
    spec: {
      restartPolicy: 'Never',
      containers: [{ name: 'job', image: 'alpine:3', command: ['sh', '-c', 'true'] }],
    },
  };
}

/** Polls the pod until `done` holds, returning every phase seen on the way. */
async function waitForPod(name: string, done: (pod: V1Pod) => boolean, timeoutMs = 20_000): Promise<V1Pod> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await core.readNamespacedPod({ name, namespace: NAMESPACE });
    if (done(current)) return current;
    if (Date.now() > deadline) throw new Error(`pod ${name} still ${JSON.stringify(current.status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('test Kubernetes server', () => {
  it('answers as kube-apiserver of the pinned release, authenticated by the admin token', async () => {
    const config = new KubeConfig();
    config.loadFromFile(kube.kubeconfigPath);
    const version = await config.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe('v1.35.4');
    expect(kube.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(kube.caData).toContain('BEGIN CERTIFICATE');
    const anonymous = await fetch(`${kube.server}/api/v1/namespaces`).catch((err: Error) => err);
    // The CA is not in Node's store: a client without it must not get through either.
    expect(anonymous).toBeInstanceOf(Error);
  });

  it('runs a pod through Pending and Running to Succeeded on the fake node', async () => {
    // Running for a second: long enough to be seen between polls.
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: pod('succeeds', { [FAKE_POD_LABELS.duration]: '1s' }),
    });
    const phases = new Set<string>();
    const finished = await waitForPod('succeeds', (current) => {
      phases.add(current.status?.phase ?? 'none');
      return current.status?.phase === 'Succeeded';
    });
    expect(finished.spec?.nodeName).toBe(kube.nodeName);
    expect(phases.has('Running')).toBe(true);
    expect(finished.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
  });

  it('serves container logs through the API server from the fake kubelet', async () => {
    await core.createNamespacedPod({ namespace: NAMESPACE, body: pod('logs') });
    await waitForPod('logs', (current) => current.status?.phase === 'Succeeded');
    const log = await core.readNamespacedPodLog({ name: 'logs', namespace: NAMESPACE, container: 'job' });
    expect(log).toBe('first line\nsecond line\n');
    const stamped = await core.readNamespacedPodLog({
      name: 'logs',
      namespace: NAMESPACE,
      container: 'job',
      timestamps: true,
    });
    expect(stamped).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z first line\n/);
  });

  it('fails a labelled pod with the chosen exit code', async () => {
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: pod('fails', { [FAKE_POD_LABELS.exitCode]: '3' }),
    });
    const finished = await waitForPod('fails', (current) =>
      ['Succeeded', 'Failed'].includes(current.status?.phase ?? ''),
    );
    expect(finished.status?.phase).toBe('Failed');
    expect(finished.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
  });

  it('holds a labelled pod Running until it is deleted, then removes it', async () => {
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: pod('held', { [FAKE_POD_LABELS.hold]: 'true' }),
    });
    await waitForPod('held', (current) => current.status?.phase === 'Running');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await core.readNamespacedPod({ name: 'held', namespace: NAMESPACE })).status?.phase).toBe(
      'Running',
    );
    await core.deleteNamespacedPod({ name: 'held', namespace: NAMESPACE });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const pods = await core.listNamespacedPod({
        namespace: NAMESPACE,
        fieldSelector: 'metadata.name=held',
      });
      if (pods.items.length === 0) break;
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  it('stop() ends every process and is safe to call twice', async () => {
    const second = await startKube();
    const server = second.server;
    await second.stop();
    await second.stop();
    const after = await fetch(`${server}/readyz`).catch((err: Error) => err);
    expect(after).toBeInstanceOf(Error);
  });
});
