import type { Problem } from './pipeline/types.ts';
import type { FailureCode } from './errors.ts';

/** Lifecycle of a build. `succeeded | failed | cancelled | errored` are final. */
export type BuildStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'errored';

/** Lifecycle of a job. Everything but `pending`, `queued` and `running` is final. */
export type JobStatus =
  | 'pending'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'errored'
  | 'cancelled'
  | 'skipped';

export const FINAL_JOB_STATUSES: readonly JobStatus[] = [
  'succeeded',
  'failed',
  'timed_out',
  'errored',
  'cancelled',
  'skipped',
];

export const FINAL_BUILD_STATUSES: readonly BuildStatus[] = ['succeeded', 'failed', 'cancelled', 'errored'];

export function isFinalJobStatus(status: JobStatus): boolean {
  return FINAL_JOB_STATUSES.includes(status);
}

export function isFinalBuildStatus(status: BuildStatus): boolean {
  return FINAL_BUILD_STATUSES.includes(status);
}

/** Live state of one job, as returned by the build query and the API. */
export interface JobState {
  key: string;
  name: string;
  needs: string[];
  status: JobStatus;
  /** 1-based; 0 until the first runner is launched. */
  attempt: number;
  runnerId?: string;
  /** Place in the tenant's queue for a runner slot while `queued` (1 = next). */
  queuePosition?: number;
  /** ISO-8601 times. */
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  failureCode?: FailureCode;
  failedStep?: string;
  /** Why the job ended the way it did, for a person (e.g. why it was skipped). */
  message?: string;
}

/** Whole live state of a build (the `buildState` query, and the build workflow's result). */
export interface BuildState {
  id: string;
  workflowId: string;
  /** Per-project build number (`#42`), once the build history has it. */
  number?: number;
  repo: string;
  ref: string;
  branch?: string;
  tag?: string;
  commitSha?: string;
  event: string;
  actor?: string;
  pipelinePath: string;
  status: BuildStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Pipeline problems when the build ended `errored` because the pipeline is invalid. */
  problems: Problem[];
  message?: string;
  jobs: JobState[];
}
