import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { ArtifactStore } from '../../adapters/artifacts/artifact-store.ts';
import { FileLogStore } from '../../adapters/logs/file-logs.ts';
import type { LogFollower } from '../../adapters/logs/follow.ts';
import type { LogStore } from '../../adapters/logs/port.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { createPgProjectionStore } from '../../adapters/projections/pg-store.ts';
import { createPGliteProjectionStore } from '../../adapters/projections/pglite-store.ts';
import type { Project } from '../../adapters/projects/port.ts';
import { EncryptedFileSecretStore } from '../../adapters/secrets/encrypted-file-secrets.ts';
import type { SecretStoreAdapter } from '../../adapters/secrets/port.ts';
import type { RunnerBackend } from '../../adapters/runner/port.ts';
import { createMemoryQuotaBroker } from '../../adapters/quota/memory-broker.ts';
import type { QuotaBroker, QuotaConfig } from '../../adapters/quota/port.ts';
import { createTemporalNotifier } from '../../adapters/notify/temporal-notifier.ts';
import { createMemoryRateLimiter } from '../../adapters/ratelimit/memory-rate-limiter.ts';
import { LocalRunnerBackend } from '../../adapters/runner/local/local-runner-backend.ts';
import { GitVcs } from '../../adapters/vcs/git-vcs.ts';
import { createApp } from '../../api/app.ts';
import { BuildService } from '../../api/build-service.ts';
import { ProjectService } from '../../api/project-service.ts';
import type { BuildState } from '../../shared/build-state.ts';
import { isFinalBuildStatus } from '../../shared/build-state.ts';
import type { BuildSettings } from '../../shared/workflow-api.ts';
import { createKilnWorkers } from '../../workers/create-workers.ts';
import { dataDirs } from '../../workers/data-dirs.ts';

export const API_TOKEN = 'test-token-0123456789';

export interface HarnessOptions {
  projects?: Project[];
  /** Wraps the real local runner backend (fault injection). */
  wrapRunner?: (runner: RunnerBackend) => RunnerBackend;
  settings?: Partial<BuildSettings>;
  /** Start no worker in this process (a test runs them in a child process). */
  noWorkers?: boolean;
  /** A PostgreSQL database for the build history; in-memory PGlite when absent. */
  databaseUrl?: string;
  /** Reuse a data directory (a restart), instead of a fresh temporary one. */
  dataDir?: string;
  /** Task queues of an earlier harness (a restart). */
  taskQueues?: { orchestrator: string; runner: string };
  /** Runner pools (in-process broker); a broker of the test's own (e.g. on Redis) wins. */
  quota?: QuotaConfig | QuotaBroker;
  /** Webhooks per organisation per minute. @default 600 */
  webhookRatePerMinute?: number;
  /** A secret store of the test's own (e.g. Vault); an encrypted file under the data directory otherwise. */
  secrets?: SecretStoreAdapter;
  /** Where artifacts go (e.g. an S3 store on MinIO); a directory under the data directory otherwise. */
  objects?: ObjectStore;
  /** The API's log readers (e.g. the archive and the Kafka tail); the NDJSON files otherwise. */
  logs?: { store: LogStore; follow: LogFollower };
}

/**
 * A Kiln wired for one test file: real Temporal (the run's dev server), unique task queues, a
 * temporary data directory, the real local runner and git, and the Hono app called in-process.
 */
export async function startHarness(options: HarnessOptions = {}) {
  installQuietRuntime();
  const address = inject('temporalAddress');
  const namespace = inject('temporalNamespace');
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'kiln-data-'));
  const dirs = dataDirs(dataDir);
  const suffix = randomUUID().slice(0, 8);
  const taskQueues = options.taskQueues ?? {
    orchestrator: `orchestrator-${suffix}`,
    runner: `runner-${suffix}`,
  };
  const store = options.databaseUrl
    ? createPgProjectionStore({ url: options.databaseUrl })
    : await createPGliteProjectionStore();
  await store.migrate();
  const secrets: SecretStoreAdapter =
    options.secrets ?? new EncryptedFileSecretStore({ file: dirs.secrets, keyFile: dirs.secretsKey });
  const projects = new ProjectService({ store, secrets });
  const quota: QuotaBroker =
    options.quota && 'acquire' in options.quota
      ? options.quota
      : createMemoryQuotaBroker(options.quota ?? { pools: [{ name: 'default', capacity: 16 }] });
  const rateLimiter = createMemoryRateLimiter();
  await projects.importFrom(options.projects ?? []);
  const settings: BuildSettings = {
    runnerTaskQueue: taskQueues.runner,
    maxJobsInFlight: 10,
    heartbeatTimeoutMs: 5_000,
    infraRetryBackoffMs: 200,
    ...options.settings,
  };

  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const vcs = new GitVcs({ mirrorsDir: dirs.mirrors });
  const realRunner = new LocalRunnerBackend({
    runnersDir: dirs.runners,
    mirrorsDir: dirs.mirrors,
    logsDir: dirs.logs,
  });
  const runner = options.wrapRunner ? options.wrapRunner(realRunner) : realRunner;
  const logs: LogStore = options.logs?.store ?? new FileLogStore({ logsDir: dirs.logs });
  const artifacts = new ArtifactStore({
    objects: options.objects ?? new DirObjectStore({ root: dirs.objects }),
  });

  let nativeConnection: NativeConnection | undefined;
  let workers: Worker[] = [];
  let running: Promise<void>[] = [];
  if (!options.noWorkers) {
    nativeConnection = await NativeConnection.connect({ address });
    workers = await createKilnWorkers({
      connection: nativeConnection,
      namespace,
      orchestratorTaskQueue: taskQueues.orchestrator,
      runnerTaskQueue: taskQueues.runner,
      workflowBundle: { codePath: inject('workflowBundlePath') },
      ports: { vcs, runner, store, secrets, quota, artifacts, notifier: createTemporalNotifier(client) },
    });
    running = workers.map((w) => w.run());
  }

  const builds = new BuildService({ client, store, taskQueue: taskQueues.orchestrator, settings });
  const app = createApp({
    builds,
    logs,
    follow: options.logs?.follow,
    projects,
    store,
    secrets,
    quota,
    rateLimiter,
    webhookRatePerMinute: options.webhookRatePerMinute ?? 600,
    artifacts,
    apiToken: API_TOKEN,
    checkTemporal: async () => {
      await connection.workflowService.getSystemInfo({});
    },
  });

  const api = (path: string, init: RequestInit = {}): Promise<Response> =>
    Promise.resolve(
      app.request(path, {
        ...init,
        headers: {
          authorization: `Bearer ${API_TOKEN}`,
          'content-type': 'application/json',
          ...init.headers,
        },
      }),
    );

  return {
    app,
    api,
    client,
    builds,
    store,
    projects,
    secrets,
    quota,
    rateLimiter,
    runner: realRunner,
    logs,
    artifacts,
    dirs,
    dataDir,
    address,
    namespace,
    taskQueues,
    settings,

    /** Starts a manual build of `cloneUrl` through the API and returns its id. */
    async startBuild(body: {
      cloneUrl: string;
      ref?: string;
      sha?: string;
      pipelinePath?: string;
    }): Promise<string> {
      const res = await api('/builds', { method: 'POST', body: JSON.stringify(body) });
      if (res.status !== 201) throw new Error(`POST /builds → ${res.status} ${await res.text()}`);
      return ((await res.json()) as { buildId: string }).buildId;
    },

    async getBuild(id: string): Promise<BuildState> {
      const res = await api(`/builds/${id}`);
      if (res.status !== 200) throw new Error(`GET /builds/${id} → ${res.status} ${await res.text()}`);
      return (await res.json()) as BuildState;
    },

    /** Polls the API until `predicate` holds (default: the build is final). */
    async waitFor(
      id: string,
      predicate: (b: BuildState) => boolean = (b) => isFinalBuildStatus(b.status),
      timeoutMs = 45_000,
    ): Promise<BuildState> {
      const deadline = Date.now() + timeoutMs;
      let last: BuildState | undefined;
      while (Date.now() < deadline) {
        last = await this.getBuild(id);
        if (predicate(last)) return last;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`timed out waiting for build ${id}; last state: ${JSON.stringify(last, null, 2)}`);
    },

    /** Stops workers and connections; `keepData` leaves the data directory for a restart. */
    async stop(stopOptions: { keepData?: boolean } = {}): Promise<void> {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.allSettled(running);
      await nativeConnection?.close();
      await connection.close();
      await store.close();
      await quota.close();
      await realRunner.close();
      if (!stopOptions.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Harness = Awaited<ReturnType<typeof startHarness>>;

let runtimeInstalled = false;

/** Worker logs at WARN, so test output shows what matters. Once per test process. */
function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}
