import { ArtifactStore } from '../adapters/artifacts/artifact-store.ts';
import { ArchivedLogStore } from '../adapters/logs/archived-log-store.ts';
import { createFileFollower } from '../adapters/logs/file-follow.ts';
import { createFileLogSinkFactory, FileLogStore } from '../adapters/logs/file-logs.ts';
import { createBusFollower, type LogFollower } from '../adapters/logs/follow.ts';
import { createKafkaLogSinkFactory, KafkaLogSinks } from '../adapters/logs/kafka-log-sink.ts';
import { KafkaLogTail } from '../adapters/logs/live-tail.ts';
import type { LogStore } from '../adapters/logs/port.ts';
import { DirObjectStore } from '../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../adapters/objects/port.ts';
import { S3ObjectStore } from '../adapters/objects/s3-object-store.ts';
import { createPgProjectionStore } from '../adapters/projections/pg-store.ts';
import { createPGliteProjectionStore } from '../adapters/projections/pglite-store.ts';
import type { ProjectionStore } from '../adapters/projections/port.ts';
import { createMemoryQuotaBroker } from '../adapters/quota/memory-broker.ts';
import type { QuotaBroker, QuotaConfig } from '../adapters/quota/port.ts';
import { createRedisQuotaBroker } from '../adapters/quota/redis-broker.ts';
import { createMemoryRateLimiter } from '../adapters/ratelimit/memory-rate-limiter.ts';
import type { RateLimiter } from '../adapters/ratelimit/port.ts';
import { createRedisRateLimiter } from '../adapters/ratelimit/redis-rate-limiter.ts';
import { KubeApi } from '../adapters/runner/kubernetes/kube-api.ts';
import { KubernetesRunnerBackend } from '../adapters/runner/kubernetes/kubernetes-runner-backend.ts';
import type { PodSettings } from '../adapters/runner/kubernetes/pod-spec.ts';
import { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import type { RunnerBackend } from '../adapters/runner/port.ts';
import { EncryptedFileSecretStore } from '../adapters/secrets/encrypted-file-secrets.ts';
import type { SecretStoreAdapter } from '../adapters/secrets/port.ts';
import { VaultSecretStore } from '../adapters/secrets/vault-secrets.ts';
import { GitVcs } from '../adapters/vcs/git-vcs.ts';
import type { Vcs } from '../adapters/vcs/port.ts';
import type { KilnConfig } from '../shared/config.ts';
import { dataDirs } from './data-dirs.ts';
import { resolveRunnerSandbox } from './runner-isolation.ts';

export interface KilnPorts {
  vcs: Vcs;
  runner: RunnerBackend;
  logs: LogStore;
  /** Follows a job attempt's log as it is written (the API's `?follow=1`). */
  follow: LogFollower;
  store: ProjectionStore;
  secrets: SecretStoreAdapter;
  quota: QuotaBroker;
  rateLimiter: RateLimiter;
  /** Build artifacts in the object store. */
  artifacts: ArtifactStore;
  /** Ends the log of an attempt whose runner was lost (Kafka log bus only). */
  logEnds?: KafkaLogSinks;
  /** Closes what holds connections or files. */
  close(): Promise<void>;
}

/** The one place where configuration selects adapters. Migrates the build history database. */
export async function createPorts(config: KilnConfig): Promise<KilnPorts> {
  const dirs = dataDirs(config.KILN_DATA_DIR);
  const store = await createProjectionStore(config);
  await store.migrate();
  const quota = await createQuotaBroker(config);
  const kafka = kafkaLogBus(config);
  const runner =
    config.KILN_RUNNER_BACKEND === 'kubernetes'
      ? createKubernetesRunner(config)
      : new LocalRunnerBackend({
          runnersDir: dirs.runners,
          mirrorsDir: dirs.mirrors,
          logsDir: dirs.logs,
          logDestination: kafka === undefined ? { kind: 'file' } : { kind: 'kafka', ...kafka },
          isolation: {
            ...(await resolveRunnerSandbox(config)),
            // The whole data directory (secret store, database, every runner), a key kept elsewhere,
            // the projects file and a kubeconfig (the backend adds the home directory and the like).
            hiddenPaths: [
              dirs.root,
              config.KILN_PROJECTS_FILE,
              ...(config.KILN_SECRETS_KEY_FILE === undefined ? [] : [config.KILN_SECRETS_KEY_FILE]),
              ...(config.KILN_KUBECONFIG === undefined ? [] : [config.KILN_KUBECONFIG]),
            ],
          },
        });
  const logs = createLogReaders(config);
  // Connects on the first lost runner only.
  const logEnds = kafka === undefined ? undefined : new KafkaLogSinks({ ...kafka, clientId: 'kiln-worker' });
  const rateLimiter =
    config.KILN_REDIS_URL === 'embedded'
      ? createMemoryRateLimiter()
      : createRedisRateLimiter({ url: config.KILN_REDIS_URL });
  return {
    vcs: new GitVcs({ mirrorsDir: dirs.mirrors }),
    runner,
    logs: logs.store,
    follow: logs.follow,
    store,
    secrets: createSecretStore(config),
    quota,
    rateLimiter,
    artifacts: createArtifactStore(config),
    logEnds,
    async close() {
      await Promise.allSettled([
        store.close(),
        quota.close(),
        rateLimiter.close(),
        runner.close(),
        logs.close(),
        logEnds?.close(),
      ]);
    },
  };
}

/** Runner pod settings from the configuration. */
export function kubePodSettings(config: KilnConfig): PodSettings {
  return {
    namespace: config.KILN_KUBE_NAMESPACE,
    runtimeClassName: config.KILN_KUBE_RUNTIME_CLASS === 'none' ? '' : config.KILN_KUBE_RUNTIME_CLASS,
    defaultImage: config.KILN_KUBE_DEFAULT_IMAGE,
    checkoutImage: config.KILN_KUBE_CHECKOUT_IMAGE,
    resourceClasses: config.KILN_KUBE_RESOURCE_CLASSES,
  };
}

/** A client of the configured cluster (a kubeconfig file, or in-cluster), rate limited. */
export function createKubeApi(config: KilnConfig): KubeApi {
  return new KubeApi({
    kubeconfigPath: config.KILN_KUBECONFIG,
    qps: config.KILN_KUBE_QPS,
    burst: config.KILN_KUBE_BURST,
  });
}

/**
 * Pods in the cluster; the worker that waits for a pod reads its log and writes it where the
 * local runner's supervisors would (Kafka, or NDJSON files under the data directory).
 */
function createKubernetesRunner(config: KilnConfig): KubernetesRunnerBackend & { close(): Promise<void> } {
  const kafka = kafkaLogBus(config);
  const sinks =
    kafka === undefined
      ? { factory: createFileLogSinkFactory(dataDirs(config.KILN_DATA_DIR).logs), bus: undefined }
      : createKafkaLogSinkFactory({ ...kafka, clientId: 'kiln-runner' });
  const backend = new KubernetesRunnerBackend({
    api: createKubeApi(config),
    pod: kubePodSettings(config),
    logSinks: sinks.factory,
    scheduleTimeoutMs: config.KILN_KUBE_SCHEDULE_TIMEOUT,
  });
  return Object.assign(backend, { close: async () => sinks.bus?.close() });
}

/** The Kafka brokers and logs topic, or undefined when the log bus is embedded (NDJSON files). */
export function kafkaLogBus(config: KilnConfig): { brokers: string[]; topic: string } | undefined {
  if (config.KILN_KAFKA_BROKERS === 'embedded') return undefined;
  const brokers = config.KILN_KAFKA_BROKERS.split(',').map((b) => b.trim());
  return { brokers, topic: config.KILN_LOGS_TOPIC };
}

/** A directory under the data directory (`embedded`), or an S3 bucket. */
export function createObjectStore(config: KilnConfig): ObjectStore {
  if (config.KILN_OBJECT_STORE === 'embedded') {
    return new DirObjectStore({ root: dataDirs(config.KILN_DATA_DIR).objects });
  }
  const { KILN_S3_ACCESS_KEY: accessKeyId, KILN_S3_SECRET_KEY: secretAccessKey } = config;
  return new S3ObjectStore({
    bucket: config.KILN_S3_BUCKET,
    endpoint: config.KILN_S3_ENDPOINT,
    region: config.KILN_S3_REGION,
    credentials:
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey }
        : undefined,
  });
}

/** Artifacts in the configured object store, kept `KILN_ARTIFACT_EXPIRE_DAYS` by default. */
export function createArtifactStore(config: KilnConfig): ArtifactStore {
  const days = config.KILN_ARTIFACT_EXPIRE_DAYS;
  return new ArtifactStore({
    objects: createObjectStore(config),
    defaultExpireMs: days === 0 ? null : days * 86_400_000,
    // Half the sweep's grace: a reused blob is always younger than the grace when its manifest lands.
    refreshAfterMs: config.KILN_ARTIFACT_GC_GRACE / 2,
  });
}

/**
 * The read side of the logs: with Kafka, the archive in the object store plus the live tail of
 * the topic; embedded, the NDJSON files the supervisors write.
 */
export function createLogReaders(config: KilnConfig): {
  store: LogStore;
  follow: LogFollower;
  close(): Promise<void>;
} {
  const kafka = kafkaLogBus(config);
  if (kafka === undefined) {
    const logsDir = dataDirs(config.KILN_DATA_DIR).logs;
    return {
      store: new FileLogStore({ logsDir }),
      follow: createFileFollower(logsDir),
      close: async () => {},
    };
  }
  const archive = new ArchivedLogStore({ objects: createObjectStore(config) });
  // Joins the topic on the first follow only, so workers that never serve logs never connect.
  const tail = new KafkaLogTail({ ...kafka, clientId: 'kiln-api' });
  return { store: archive, follow: createBusFollower({ archive, tail }), close: () => tail.stop() };
}

/** PGlite under the data directory (`embedded`), or PostgreSQL. */
export async function createProjectionStore(config: KilnConfig): Promise<ProjectionStore> {
  if (config.KILN_DATABASE_URL === 'embedded') {
    return createPGliteProjectionStore({ dataDir: dataDirs(config.KILN_DATA_DIR).pglite });
  }
  return createPgProjectionStore({
    url: config.KILN_DATABASE_URL,
    maxConnections: config.KILN_DATABASE_POOL_SIZE,
  });
}

/** The encrypted file under the data directory (`embedded`), or Vault / OpenBao. */
export function createSecretStore(config: KilnConfig): SecretStoreAdapter {
  if (config.KILN_VAULT_ADDRESS === 'embedded') {
    const dirs = dataDirs(config.KILN_DATA_DIR);
    return new EncryptedFileSecretStore({
      file: dirs.secrets,
      keyFile: config.KILN_SECRETS_KEY_FILE ?? dirs.secretsKey,
    });
  }
  return new VaultSecretStore({
    address: config.KILN_VAULT_ADDRESS,
    token: config.KILN_VAULT_TOKEN,
    namespace: config.KILN_VAULT_NAMESPACE,
  });
}

/** Runner pools, classes and tenants from the configuration. */
export function quotaConfig(config: KilnConfig): QuotaConfig {
  return {
    pools: config.KILN_QUOTA_POOLS,
    resourceClasses: config.KILN_QUOTA_CLASSES,
    tenants: config.KILN_QUOTA_TENANTS,
  };
}

/** In-process (`embedded`, one process: `kiln up`), or Redis shared by every worker. */
export async function createQuotaBroker(config: KilnConfig): Promise<QuotaBroker> {
  if (config.KILN_REDIS_URL === 'embedded') return createMemoryQuotaBroker(quotaConfig(config));
  return createRedisQuotaBroker({ url: config.KILN_REDIS_URL, config: quotaConfig(config) });
}
