import { z } from 'zod';
import { parseKubeResourceClasses } from './kube-settings.ts';
import { parseClasses, parsePools, parseTenants } from './quota-settings.ts';

/**
 * Kiln's whole configuration: `KILN_*` environment variables, validated once at start.
 * Defaults select the embedded adapters so that one command runs everything on a laptop.
 * No adapter reads `process.env` itself; entry points call {@link loadConfig} and pass values down.
 */

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().min(1);
/** A setting in one of the text forms of `quota-settings.ts`, parsed with its own messages. */
function parsedText<T>(parse: (text: string) => T) {
  return z.string().transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
}

const durationMs = z
  .string()
  .regex(/^\d+(ms|s|m|h)$/, 'expected a duration such as 500ms, 30s, 5m or 1h')
  .transform(parseDurationMs);

export const configSchema = z.object({
  /** Where embedded state lives: Temporal's SQLite file, git mirrors, workspaces, logs. @default .kiln */
  KILN_DATA_DIR: z.string().min(1).default('.kiln'),
  /** @default 127.0.0.1 */
  KILN_API_HOST: z.string().min(1).default('127.0.0.1'),
  /** @default 8080 */
  KILN_API_PORT: port.default(8080),
  /**
   * Port of the workers' and the log archiver's health endpoint (`GET /healthz`, on all interfaces,
   * for the kubelet's probes); unset: none.
   */
  KILN_HEALTH_PORT: port.min(1).optional(),
  /** Bearer token required by every API route except the webhook. */
  KILN_API_TOKEN: z.string().min(16, 'must be at least 16 characters').default('kiln-local-dev-token'),
  /** Temporal frontend `host:port`; `embedded` starts a dev server under the data directory. @default embedded */
  KILN_TEMPORAL_ADDRESS: z.string().min(1).default('embedded'),
  /** @default default */
  KILN_TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Port of the embedded Temporal server's frontend. @default 7233 */
  KILN_TEMPORAL_PORT: port.default(7233),
  /** Port of the embedded Temporal Web UI. @default 8233 */
  KILN_TEMPORAL_UI_PORT: port.default(8233),
  /** Task queue of build and job workflows and orchestration activities. @default kiln-orchestrator */
  KILN_ORCHESTRATOR_TASK_QUEUE: z.string().min(1).default('kiln-orchestrator'),
  /** Task queue of runner activities (launch, await, cancel, destroy). @default kiln-runner */
  KILN_RUNNER_TASK_QUEUE: z.string().min(1).default('kiln-runner'),
  /** YAML file listing projects (repo, clone URL, webhook secret, pipeline path). @default kiln.projects.yaml */
  KILN_PROJECTS_FILE: z.string().min(1).default('kiln.projects.yaml'),
  /**
   * Build history database: a `postgres://` URL, or `embedded` for PGlite under the data directory
   * (one process only: `kiln up`). @default embedded
   */
  KILN_DATABASE_URL: z
    .string()
    .min(1)
    .refine(
      (v) => v === 'embedded' || /^postgres(ql)?:\/\//.test(v),
      'expected "embedded" or a postgres:// URL',
    )
    .default('embedded'),
  /** Pool size of the PostgreSQL adapter. @default 10 */
  KILN_DATABASE_POOL_SIZE: positiveInt.max(500).default(10),
  /** Key of the embedded secret store (AES-256-GCM, created with mode 0600). @default <data dir>/secrets.key */
  KILN_SECRETS_KEY_FILE: z.string().min(1).optional(),
  /** Secret store: `embedded` (encrypted file under the data directory) or a Vault/OpenBao URL. @default embedded */
  KILN_VAULT_ADDRESS: z
    .string()
    .min(1)
    .refine((v) => v === 'embedded' || /^https?:\/\//.test(v), 'expected "embedded" or an http(s):// URL')
    .default('embedded'),
  /** Kiln's Vault token (holding the policy `configureVault` writes); unset on runner-only workers. */
  KILN_VAULT_TOKEN: z.string().min(1).optional(),
  /** Vault Enterprise / OpenBao namespace. */
  KILN_VAULT_NAMESPACE: z.string().min(1).optional(),
  /** Quota broker: `embedded` (in-process) or a `redis://` URL. @default embedded */
  KILN_REDIS_URL: z
    .string()
    .min(1)
    .refine((v) => v === 'embedded' || /^rediss?:\/\//.test(v), 'expected "embedded" or a redis:// URL')
    .default('embedded'),
  /** Runner pools: `name=capacity[:labels]; ...` in tokens. @default default=8 */
  KILN_QUOTA_POOLS: parsedText(parsePools).prefault('default=8'),
  /** Resource classes: `name=tokens; ...`. @default small=1; medium=2; large=4 */
  KILN_QUOTA_CLASSES: parsedText(parseClasses).prefault('small=1; medium=2; large=4'),
  /** Tenant weights and hard caps: `name=weight[/cap]; ...`; unlisted tenants have weight 1, no cap. */
  KILN_QUOTA_TENANTS: parsedText(parseTenants).prefault(''),
  /** How long a runner slot stays granted without a renewal (a crashed worker's slots return after it). @default 60s */
  KILN_QUOTA_LEASE: durationMs.prefault('60s'),
  /** Webhooks accepted per organisation per minute before 429 (token bucket, bursts of the same size). @default 600 */
  KILN_WEBHOOK_RATE_PER_MINUTE: positiveInt.max(1_000_000).default(600),
  /** Jobs of one build running at once. @default 50 */
  KILN_MAX_JOBS_IN_FLIGHT: positiveInt.max(1000).default(50),
  /** A runner that has not reported for this long is considered lost. @default 20s */
  KILN_RUNNER_HEARTBEAT_TIMEOUT: durationMs.prefault('20s'),
  /** First backoff before relaunching after an infrastructure failure (doubles each attempt). @default 2s */
  KILN_INFRA_RETRY_BACKOFF: durationMs.prefault('2s'),
  /**
   * Log bus: `embedded` (the runners write NDJSON files under the data directory) or Kafka brokers
   * `host:port,host:port` (the runners publish to Kafka; the log archiver stores them). @default embedded
   */
  KILN_KAFKA_BROKERS: z
    .string()
    .min(1)
    .refine(
      (v) => v === 'embedded' || v.split(',').every((b) => /^[^\s,:]+:\d+$/.test(b.trim())),
      'expected "embedded" or host:port,host:port',
    )
    .default('embedded'),
  /** Kafka topic of log records. @default kiln.logs */
  KILN_LOGS_TOPIC: z.string().min(1).default('kiln.logs'),
  /** Object store of archived logs and artifacts: `embedded` (a directory under the data directory) or `s3`. @default embedded */
  KILN_OBJECT_STORE: z.enum(['embedded', 's3']).default('embedded'),
  /** S3 endpoint URL (MinIO, another S3 server); the AWS default when unset. */
  KILN_S3_ENDPOINT: z.url().optional(),
  /** Bucket of the `s3` object store. @default kiln */
  KILN_S3_BUCKET: z.string().min(1).default('kiln'),
  /** Access key of the `s3` object store; the AWS default credential chain when unset. */
  KILN_S3_ACCESS_KEY: z.string().min(1).optional(),
  /** Secret key going with `KILN_S3_ACCESS_KEY`. */
  KILN_S3_SECRET_KEY: z.string().min(1).optional(),
  /** Region of the `s3` object store. @default us-east-1 */
  KILN_S3_REGION: z.string().min(1).optional(),
  /**
   * Days a job's artifacts are kept when its pipeline sets no `expire_in`; 0 keeps them until
   * deleted by hand. @default 30
   */
  KILN_ARTIFACT_EXPIRE_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
  /** Runner backend: `local` processes, or `kubernetes` pods. @default local */
  KILN_RUNNER_BACKEND: z.enum(['local', 'kubernetes']).default('local'),
  /** Namespace of runner pods (kubernetes backend). @default kiln-runners */
  KILN_KUBE_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a Kubernetes namespace name')
    .default('kiln-runners'),
  /** RuntimeClass of runner pods; `none` leaves the cluster's default runtime. @default gvisor */
  KILN_KUBE_RUNTIME_CLASS: z.string().min(1).default('gvisor'),
  /** A kubeconfig file; unset means in-cluster (the worker pod's service account). */
  KILN_KUBECONFIG: z.string().min(1).optional(),
  /** Kubernetes API calls per second of one worker (client-side token bucket); 0 turns it off. @default 20 */
  KILN_KUBE_QPS: z.coerce.number().min(0).max(100_000).default(20),
  /** Burst of Kubernetes API calls above `KILN_KUBE_QPS`. @default 30 */
  KILN_KUBE_BURST: positiveInt.max(100_000).default(30),
  /** Image of jobs that name none. @default node:24-bookworm-slim */
  KILN_KUBE_DEFAULT_IMAGE: z.string().min(1).default('node:24-bookworm-slim'),
  /** Image of the checkout init container (git and a shell). @default alpine/git:2.49.1 */
  KILN_KUBE_CHECKOUT_IMAGE: z.string().min(1).default('alpine/git:2.49.1'),
  /** CPU/memory of runner pods per resource class: `name=cpu/memory; ...`. @default small=1/2Gi; medium=2/4Gi; large=4/8Gi */
  KILN_KUBE_RESOURCE_CLASSES: parsedText(parseKubeResourceClasses).prefault(
    'small=1/2Gi; medium=2/4Gi; large=4/8Gi',
  ),
  /** A pod not scheduled onto a node within this time failed to start. @default 5m */
  KILN_KUBE_SCHEDULE_TIMEOUT: durationMs.prefault('5m'),
  /** The pod reaper deletes Kiln pods this long past their deadline. @default 60m */
  KILN_KUBE_REAPER_MARGIN: durationMs.prefault('60m'),
  /**
   * How the local runner isolates each step: `none`, `bubblewrap` (namespaces, read-only host root,
   * network as `KILN_RUNNER_NETWORK` says) or `gvisor` (gVisor container, no network). Unset: bubblewrap when it works on
   * this host, else none with a warning. A mode set explicitly but unavailable stops Kiln at start.
   */
  KILN_RUNNER_ISOLATION: z.enum(['none', 'bubblewrap', 'gvisor']).optional(),
  /**
   * The network of sandboxed steps: `none` (their own, loopback only) or `host` (shared with the
   * host under bubblewrap: steps then reach whatever listens on the host's loopback, Kiln's own
   * services included; gVisor supports `none` only). Without isolation steps have the host's.
   * @default none
   */
  KILN_RUNNER_NETWORK: z.enum(['none', 'host']).default('none'),
  /**
   * Days archived logs are kept after their build was last active; 0 keeps them until deleted by
   * hand. Enforced by the `kiln-retention` schedule. @default 90
   */
  KILN_LOG_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(90),
  /** How often the `kiln-retention` schedule runs (logs, expired artifacts, unreferenced blobs). @default 1h */
  KILN_RETENTION_INTERVAL: durationMs.prefault('1h'),
  /**
   * Age an artifact blob no manifest names must reach before retention deletes it, so an upload
   * whose manifest is not yet written is never collected. @default 1h
   */
  KILN_ARTIFACT_GC_GRACE: durationMs.prefault('1h'),
  /** @default info */
  KILN_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

export type KilnConfig = z.output<typeof configSchema>;

/** Every configuration key Kiln understands. */
export const CONFIG_KEYS = Object.keys(configSchema.shape) as (keyof KilnConfig)[];

/** Thrown for a bad configuration value; the message names the variable. */
export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/**
 * Parses the `KILN_*` variables of `env`. Unknown `KILN_*` variables are rejected too, since a
 * typo (KILN_API_PROT) would otherwise be silently ignored.
 */
export function loadConfig(env: Record<string, string | undefined>): KilnConfig {
  const known = new Set<string>(CONFIG_KEYS);
  for (const name of Object.keys(env)) {
    if (name.startsWith('KILN_') && !known.has(name) && !PASSTHROUGH.has(name)) {
      throw new ConfigError(name, 'unknown setting (see the Configuration section of the README)');
    }
  }
  const input: Record<string, string> = {};
  for (const key of CONFIG_KEYS) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'configuration');
    throw new ConfigError(variable, `${issue.message} (got ${JSON.stringify(input[variable] ?? '')})`);
  }
  return parsed.data;
}

/** Variables that Kiln sets for jobs (KILN_BUILD_ID...) and that may be inherited by its own processes. */
const PASSTHROUGH = new Set([
  'KILN_BUILD_ID',
  'KILN_JOB',
  'KILN_ATTEMPT',
  'KILN_COMMIT_SHA',
  'KILN_REF',
  'KILN_BRANCH',
  'KILN_TAG',
  'KILN_WORKSPACE',
]);

/** `90s` → 90000. Accepts ms, s, m, h. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * factor;
}
