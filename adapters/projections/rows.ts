import type { BuildStatus, JobStatus } from '../../shared/build-state.ts';
import { InvalidInputError } from '../../shared/errors.ts';
import type { Problem } from '../../shared/pipeline/types.ts';
import type { BuildRecord, DeliveryRecord, JobRecord, ProjectRecord } from './port.ts';

/**
 * Rows as the drivers return them: `bigint` columns come back as strings from `pg` and as
 * numbers from PGlite, times as `Date`, `jsonb` already parsed. The mappers below smooth that out.
 */
type Int = string | number;
type Time = Date | string;

export interface ProjectRow {
  id: string;
  repo: string;
  clone_url: string;
  secret_ref: string;
  pipeline_path: string;
  tenant: string;
  weight: number;
  created_at: Time;
}

export interface BuildRow {
  id: string;
  project_id: string;
  number: Int;
  commit_sha: string | null;
  ref: string;
  branch: string | null;
  tag: string | null;
  event: string;
  actor: string | null;
  status: BuildStatus;
  version: Int;
  created_at: Time;
  started_at: Time | null;
  finished_at: Time | null;
  workflow_id: string;
  problems: Problem[];
  message: string | null;
}

export interface JobRow {
  build_id: string;
  key: string;
  name: string;
  needs: string[];
  status: JobStatus;
  attempt: number;
  runner_id: string | null;
  exit_code: number | null;
  failure_code: string | null;
  failed_step: string | null;
  message: string | null;
  started_at: Time | null;
  finished_at: Time | null;
  log_location: string | null;
  version: Int;
}

export interface DeliveryRow {
  delivery_id: string;
  event: string;
  build_id: string;
  received_at: Time;
}

const iso = (t: Time): string => (t instanceof Date ? t : new Date(t)).toISOString();

/** Copies the non-null entries of `fields` onto `target`, so absent values stay absent (not `null`). */
function withOptional<T extends object>(target: T, fields: Record<string, unknown>): T {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== null && value !== undefined) Object.assign(target, { [key]: value });
  }
  return target;
}

export function toProject(row: ProjectRow): ProjectRecord {
  return {
    id: row.id,
    repo: row.repo,
    cloneUrl: row.clone_url,
    webhookSecretRef: row.secret_ref,
    pipelinePath: row.pipeline_path,
    tenant: row.tenant,
    weight: row.weight,
    createdAt: iso(row.created_at),
  };
}

export function toBuild(row: BuildRow): BuildRecord {
  const build: BuildRecord = {
    id: row.id,
    projectId: row.project_id,
    number: Number(row.number),
    ref: row.ref,
    event: row.event,
    status: row.status,
    version: Number(row.version),
    createdAt: iso(row.created_at),
    workflowId: row.workflow_id,
    problems: row.problems,
  };
  return withOptional(build, {
    commitSha: row.commit_sha,
    branch: row.branch,
    tag: row.tag,
    actor: row.actor,
    startedAt: row.started_at && iso(row.started_at),
    finishedAt: row.finished_at && iso(row.finished_at),
    message: row.message,
  });
}

export function toJob(row: JobRow): JobRecord {
  const job: JobRecord = {
    buildId: row.build_id,
    key: row.key,
    name: row.name,
    needs: row.needs,
    status: row.status,
    attempt: row.attempt,
    version: Number(row.version),
  };
  return withOptional(job, {
    runnerId: row.runner_id,
    exitCode: row.exit_code,
    failureCode: row.failure_code,
    failedStep: row.failed_step,
    message: row.message,
    startedAt: row.started_at && iso(row.started_at),
    finishedAt: row.finished_at && iso(row.finished_at),
    logLocation: row.log_location,
  });
}

export function toDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    deliveryId: row.delivery_id,
    event: row.event,
    buildId: row.build_id,
    receivedAt: iso(row.received_at),
  };
}

/**
 * Keyset cursor of `listBuilds`: the number of the last build of the page. Build numbers only
 * grow, so rows inserted while a client pages are always newer than its cursor and never shift
 * the rows it has yet to read.
 */
export function encodeCursor(number: number): string {
  return Buffer.from(JSON.stringify({ n: number })).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  let n: unknown;
  try {
    n = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { n?: unknown }).n;
  } catch {
    n = undefined;
  }
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidInputError('cursor', 'cursor is not one this server returned');
  }
  return n;
}
