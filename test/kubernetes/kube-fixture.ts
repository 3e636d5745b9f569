import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { createFileLogSinkFactory } from '../../adapters/logs/file-logs.ts';
import { KubeApi } from '../../adapters/runner/kubernetes/kube-api.ts';
import {
  KubernetesRunnerBackend,
  type KubernetesRunnerBackendOptions,
} from '../../adapters/runner/kubernetes/kubernetes-runner-backend.ts';
import { DEFAULT_POD_SETTINGS, type PodSettings } from '../../adapters/runner/kubernetes/pod-spec.ts';
import { startKube, type RunningKube } from '../../infra/dev/kube.ts';

/**
 * A real API server (etcd + kube-apiserver + kube-scheduler + KWOK's fake node) for one test file,
 * with a fresh runner namespace, and backends over it.
 */
export async function startKubeFixture() {
  const kube: RunningKube = await startKube({ onProgress: (m) => console.log(`[kube] ${m}`) });
  const namespace = 'kiln-runners';
  const api = new KubeApi({ kubeconfigPath: kube.kubeconfigPath });
  const core = api.config.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const logsDir = mkdtempSync(join(tmpdir(), 'kiln-kube-logs-'));

  return {
    kube,
    api,
    core,
    namespace,
    logsDir,
    /** A backend with its own API client (as another worker would have). */
    backend(
      pod: Partial<PodSettings> = {},
      options: Partial<Omit<KubernetesRunnerBackendOptions, 'pod'>> = {},
    ): KubernetesRunnerBackend {
      return new KubernetesRunnerBackend({
        api: options.api ?? new KubeApi({ kubeconfigPath: kube.kubeconfigPath }),
        pod: { ...DEFAULT_POD_SETTINGS, namespace, ...pod },
        logSinks: options.logSinks ?? createFileLogSinkFactory(logsDir),
        logGraceMs: 2_000,
        ...options,
      });
    },
    async pods(labelSelector = 'app.kubernetes.io/managed-by=kiln'): Promise<V1Pod[]> {
      return (await core.listNamespacedPod({ namespace, labelSelector })).items;
    },
    async stop(): Promise<void> {
      await kube.stop();
      rmSync(logsDir, { recursive: true, force: true });
    },
  };
}

export type KubeFixture = Awaited<ReturnType<typeof startKubeFixture>>;

/** Polls `check` until it returns a value other than undefined. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
