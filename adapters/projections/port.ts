import type { BuildStatus, JobStatus } from '../../shared/build-state.ts';
import { KilnError } from '../../shared/errors.ts';
import type { Problem } from '../../shared/pipeline/types.ts';

/** A repository Kiln builds, as registered in the store. */
export interface ProjectRecord {
  id: string;
  /** `owner/name`; unique, matched case-insensitively. */
  repo: string;
  cloneUrl: string;
  /** Where the webhook secret lives in the secrets store. The secret itself is never stored here. */
  webhookSecretRef: string;
  pipelinePath: string;
  tenant: string;
  /** Fair-share weight of the project within its tenant. */
  weight: number;
  /** ISO-8601. */
  createdAt: string;
}

/** What `createProject` needs; the store assigns the id. */
export interface NewProject {
  repo: string;
  cloneUrl: string;
  webhookSecretRef: string;
  /** @default '.ci.yaml' */
  pipelinePath?: string;
  /** @default 'default' */
  tenant?: string;
  /** @default 1 */
  weight?: number;
}

/**
 * A snapshot of one build, as the projector writes it. Each write replaces the whole snapshot, so
 * the row always equals the snapshot with the highest `version` seen.
 */
export interface BuildProjection {
  /** The build workflow id. */
  id: string;
  /** Immutable: only the first insert's project counts. */
  projectId: string;
  commitSha?: string;
  ref: string;
  branch?: string;
  tag?: string;
  event: string;
  actor?: string;
  status: BuildStatus;
  /** Strictly increasing per build, chosen by the writer; a safe integer. */
  version: number;
  /** ISO-8601 times. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  workflowId: string;
  problems: Problem[];
  message?: string;
}

/** A stored build: the snapshot plus its per-project number (`#42`). */
export interface BuildRecord extends BuildProjection {
  number: number;
}

/** A snapshot of one job of a build. */
export interface JobProjection {
  key: string;
  name: string;
  needs: string[];
  status: JobStatus;
  attempt: number;
  runnerId?: string;
  exitCode?: number;
  failureCode?: string;
  failedStep?: string;
  message?: string;
  /** ISO-8601 times. */
  startedAt?: string;
  finishedAt?: string;
  /** Where the job's logs are archived (e.g. an object-store prefix). */
  logLocation?: string;
}

/** A stored job, with the version of the snapshot it came from. */
export interface JobRecord extends JobProjection {
  buildId: string;
  version: number;
}

/** Filters and page of `listBuilds`. */
export interface BuildQuery {
  branch?: string;
  status?: BuildStatus;
  event?: string;
  /** Page size, 1..{@link MAX_PAGE_SIZE}. */
  limit: number;
  /** `nextCursor` of the previous page; absent for the first (newest) page. */
  cursor?: string;
}

/** One page of builds, newest first. */
export interface BuildPage {
  builds: BuildRecord[];
  /** Present when older builds remain. Opaque. */
  nextCursor?: string;
}

/** Outcome of `upsertBuild`. */
export interface UpsertBuildResult {
  /** False when the stored version was already equal or newer (nothing changed). */
  applied: boolean;
  number: number;
}

export interface DeliveryRecord {
  deliveryId: string;
  event: string;
  buildId: string;
  /** ISO-8601. */
  receivedAt: string;
}

/** Outcome of `recordDelivery`: a redelivery returns the build of the first delivery. */
export type RecordDeliveryResult = { recorded: true } | { recorded: false; buildId: string };

/** Largest page `listBuilds` serves. */
export const MAX_PAGE_SIZE = 200;

/**
 * Build history: the read model of builds, kept in PostgreSQL (or PGlite, embedded).
 *
 * Lifecycle: create the adapter, call `migrate()` once at start (it applies the pending forward-only
 * migrations; concurrent callers are serialised and applying twice is a no-op), use it from any
 * number of concurrent callers, then `close()` once. After `close()` every call fails with
 * {@link StoreUnavailableError}.
 *
 * Guarantees:
 * - Writes are idempotent and ordered by `version`: an older or equal version never overwrites a
 *   newer one, whatever order retried or delayed writes arrive in.
 * - A build gets its per-project `number` on its first insert, atomically: numbers are 1..n
 *   without gaps, even under concurrent first inserts.
 * - Every method either fully applies or not at all (one transaction).
 * - When the database cannot be reached, methods throw {@link StoreUnavailableError}.
 * - Bad input the caller can fix (a malformed cursor, a limit out of range) throws
 *   `InvalidInputError` naming the field; an unknown project or build throws `NotFoundError`.
 */
export interface ProjectionStore {
  /**
   * Applies pending migrations and returns their names (empty when the schema is current).
   * Safe to call from several processes at once.
   */
  migrate(): Promise<string[]>;
  /** Releases connections (or closes the embedded database). Safe to call twice. */
  close(): Promise<void>;

  /** Registers a repository; throws `ProjectExistsError` when the repo is already registered. */
  createProject(project: NewProject): Promise<string>;
  /** All projects, by repo. */
  listProjects(): Promise<ProjectRecord[]>;
  getProject(id: string): Promise<ProjectRecord | undefined>;
  /** Case-insensitive. */
  findProjectByRepo(repo: string): Promise<ProjectRecord | undefined>;

  /** Inserts or replaces a build snapshot, guarded by `version`. The project must exist. */
  upsertBuild(build: BuildProjection): Promise<UpsertBuildResult>;
  getBuild(id: string): Promise<BuildRecord | undefined>;
  /** Builds of a project, newest (highest number) first, keyset paginated. */
  listBuilds(projectId: string, query: BuildQuery): Promise<BuildPage>;

  /**
   * Inserts or replaces job snapshots of a build; each job is guarded by `version` on its own.
   * The build must have been upserted first. Returns how many jobs changed.
   */
  upsertJobs(buildId: string, version: number, jobs: JobProjection[]): Promise<number>;
  /** Jobs of a build in pipeline order. */
  listJobs(buildId: string): Promise<JobRecord[]>;

  /** Records a webhook delivery once; a duplicate returns the build of the first. */
  recordDelivery(delivery: {
    deliveryId: string;
    event: string;
    buildId: string;
  }): Promise<RecordDeliveryResult>;
  findDelivery(deliveryId: string): Promise<DeliveryRecord | undefined>;
}

/** The database cannot be reached (down, refusing connections, or the store is closed): HTTP 503. */
export class StoreUnavailableError extends KilnError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
    this.name = 'StoreUnavailableError';
  }
}

/** A project with this repo is already registered: HTTP 409. */
export class ProjectExistsError extends KilnError {
  readonly repo: string;
  constructor(repo: string) {
    super('PROJECT_EXISTS', `project "${repo}" is already registered`);
    this.name = 'ProjectExistsError';
    this.repo = repo;
  }
}
