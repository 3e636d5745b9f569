/**
 * Kubernetes runner backend benchmark against a real API server (etcd, kube-apiserver,
 * kube-scheduler and KWOK's fake node, started here): how fast one backend instance launches
 * runner pods (`start` = create the Secret, then the pod), with the client-side rate limiter at
 * client-go's defaults (20 calls/s, burst 30) and without it.
 *
 * Two phases per setting: `--pods` launches from `--concurrency` callers at once (throughput, and
 * the start latency a burst sees, queueing included), then `--sequential` launches one after the
 * other (the latency of one start: two API calls, plus the limiter's wait once its burst is spent).
 *
 * `npx node bench/kubernetes.ts [--pods 200] [--concurrency 64] [--sequential 50]`
 * Results go to bench/results/kubernetes-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { LogSinkFactory } from '../adapters/logs/port.ts';
import { CoreV1Api } from '@kubernetes/client-node';
import { KubeApi } from '../adapters/runner/kubernetes/kube-api.ts';
import { KubernetesRunnerBackend } from '../adapters/runner/kubernetes/kubernetes-runner-backend.ts';
import { DEFAULT_POD_SETTINGS } from '../adapters/runner/kubernetes/pod-spec.ts';
import type { RunnerSpec } from '../adapters/runner/port.ts';
import { startKube } from '../infra/dev/kube.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '64' },
    sequential: { type: 'string', default: '50' },
  },
});
const PODS = Number(values.pods);
const CONCURRENCY = Number(values.concurrency);
const SEQUENTIAL = Number(values.sequential);
const log = (m: string): void => console.log(`[bench:kubernetes] ${m}`);
/** Nothing is awaited here, so no log is ever written. */
const noLogs: LogSinkFactory = () => ({ write: async () => {}, close: async () => {} });

function spec(mode: string, i: number): RunnerSpec {
  const buildId = `bench-${mode}-${i}`;
  return {
    runnerId: `${buildId}-job-1`,
    buildId,
    jobKey: 'job',
    attempt: 1,
    checkout: { cloneUrl: 'https://git.example.com/bench.git', sha: 'c'.repeat(40), ref: 'refs/heads/main' },
    steps: [
      { name: 'build', run: 'make', env: {} },
      { name: 'test', run: 'make test', env: {} },
    ],
    env: { CI_BENCH: '1' },
    timeoutMs: 600_000,
    secretEnv: { TOKEN: 'bench-secret-value' },
  };
}

const kube = await startKube({ onProgress: log });
try {
  const results: Record<string, unknown> = {};
  for (const [mode, qps, burst] of [
    ['limited', 20, 30],
    ['unlimited', 0, 1],
  ] as const) {
    const api = new KubeApi({ kubeconfigPath: kube.kubeconfigPath, qps, burst });
    const namespace = `bench-${mode}`;
    await api.config.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: namespace } } });
    const backend = new KubernetesRunnerBackend({
      api,
      pod: { ...DEFAULT_POD_SETTINGS, namespace },
      logSinks: noLogs,
    });
    // Warm-up: connections and the API server's caches.
    await backend.start(spec(`${mode}-warm`, 0));
    await new Promise((r) => setTimeout(r, 2_000)); // the limiter's bucket refills
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < PODS) {
          const i = next++;
          const t0 = performance.now();
          await backend.start(spec(mode, i));
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const podsPerSecond = Math.round((PODS / seconds) * 10) / 10;
    const s = summarise(latencies);
    log(
      `${mode}: ${PODS} pods in ${seconds.toFixed(1)} s → ${podsPerSecond} pods/s; start p50 ${s.p50} ms, p99 ${s.p99} ms`,
    );
    await new Promise((r) => setTimeout(r, 2_000));
    const one: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      const t0 = performance.now();
      await backend.start(spec(`${mode}-seq`, i));
      one.push(performance.now() - t0);
    }
    const q = summarise(one);
    log(`${mode}: ${SEQUENTIAL} sequential starts, p50 ${q.p50} ms, p99 ${q.p99} ms`);
    results[mode] = {
      qps,
      burst,
      burstPhase: { pods: PODS, concurrency: CONCURRENCY, seconds, podsPerSecond, startLatencyMs: s },
      sequentialPhase: { pods: SEQUENTIAL, startLatencyMs: q },
    };
  }
  const date = new Date().toISOString().slice(0, 10);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `kubernetes-${date}.json`);
  writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
  log(`results in ${file}`);
} finally {
  await kube.stop();
}
