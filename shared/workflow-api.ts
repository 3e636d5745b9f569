import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BuildState, JobStatus } from './build-state.ts';
import type { CompiledJob } from './pipeline/types.ts';
import type { FailureCode } from './errors.ts';

/** Settings a build carries from the API's configuration, so workflows never read config. */
export interface BuildSettings {
  runnerTaskQueue: string;
  maxJobsInFlight: number;
  heartbeatTimeoutMs: number;
  infraRetryBackoffMs: number;
  /** How long a runner slot stays granted without renewal. @default 60000 */
  quotaLeaseMs?: number;
}

/** Input of `buildWorkflow`. Never holds a secret: the webhook secret stays in the API. */
export interface BuildInput {
  buildId: string;
  /** The project in the build history database. */
  projectId: string;
  /** Per-project build number, assigned when the API recorded the build. */
  number?: number;
  repo: string;
  cloneUrl: string;
  pipelinePath: string;
  /** Full ref (`refs/heads/main`, `refs/tags/v1`, `refs/pull/7/head`) or a branch name. */
  ref: string;
  /** Commit to build; resolved from `ref` when absent (manual builds). */
  sha?: string;
  branch?: string;
  tag?: string;
  event: 'push' | 'pull_request' | 'manual';
  actor?: string;
  /** A pull request from a fork: jobs that declare secrets are skipped, as untrusted code. */
  fromFork?: boolean;
  /** Fair-share tenant of the project (its organisation or team). @default default */
  tenant?: string;
  createdAt: string;
  settings: BuildSettings;
}

/** What `jobWorkflow` needs: one compiled job and where its code comes from. */
export interface JobInput {
  buildId: string;
  /** Fair-share tenant and the priority a job without `priority:` gets (high 2, normal 1, low 0). */
  tenant?: string;
  defaultPriority?: number;
  /** The project whose secrets the job's `secrets:` names. */
  projectId: string;
  job: CompiledJob;
  checkout: { cloneUrl: string; sha: string; ref: string; branch?: string; tag?: string };
  settings: BuildSettings;
}

/** How a job ended. */
export interface JobResult {
  status: Extract<JobStatus, 'succeeded' | 'failed' | 'timed_out' | 'errored'>;
  attempt: number;
  runnerId?: string;
  startedAt?: string;
  finishedAt: string;
  exitCode?: number;
  failureCode?: FailureCode;
  failedStep?: string;
  message?: string;
}

/** Sent to a build when a job waits for a runner slot, and whenever an attempt starts. */
export type JobProgress =
  | {
      key: string;
      status: 'running';
      attempt: number;
      runnerId: string;
      startedAt: string;
      /** Why the previous attempt was abandoned, when this is a relaunch. */
      message?: string;
    }
  | { key: string; status: 'queued'; position: number };

/** The whole live state of a build. */
export const buildStateQuery = defineQuery<BuildState>('buildState');

/** Job → build progress reports. */
export const jobProgressSignal = defineSignal<[JobProgress]>('jobProgress');

/** Cancel a build: running jobs end `cancelled`, pending ones `skipped`, the build `cancelled`. */
export const cancelBuildSignal = defineSignal<[{ reason?: string }]>('cancelBuild');
