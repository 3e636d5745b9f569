import type { Readable } from 'node:stream';
import type { ArtifactsSpec, CompiledStep } from '../../shared/pipeline/types.ts';

/** Everything a runner needs to run one attempt of one job. No secret values: references only. */
export interface RunnerSpec {
  /** `<build>-<job>-<attempt>`: the idempotency key of a launch. */
  runnerId: string;
  buildId: string;
  jobKey: string;
  attempt: number;
  checkout: {
    cloneUrl: string;
    sha: string;
    ref: string;
    branch?: string;
  };
  steps: CompiledStep[];
  /** Job environment (pipeline env + job env, matrix substituted). Kiln adds CI and KILN_* itself. */
  env: Record<string, string>;
  timeoutMs: number;
  /** Container image, for container backends; recorded and ignored by the local backend. */
  image?: string;
  /** Resource class (`resources:`), sizing container backends' pods. @default small */
  resourceClass?: string;
  /** The project whose secrets `secrets` names. */
  projectId?: string;
  /** Names of the project secrets the job declares (`secrets:` in the pipeline). */
  secrets?: string[];
  /**
   * The resolved secret values, by name. Filled in on the runner side just before launch, never
   * from workflow input (it would be stored in history). Backends expose them to the steps'
   * environment and mask them in every log line.
   */
  secretEnv?: Record<string, string>;
  /**
   * Files to keep after the steps (`artifacts:`). A backend with {@link RunnerWorkspaceFiles}
   * matches them in the workspace once the steps ended, when `when` fits the outcome.
   */
  artifacts?: ArtifactsSpec;
  /** Keys of the jobs this one needs: their artifacts are placed in the workspace before the first step. */
  needs?: string[];
}

/** How an attempt ended, when it ended by itself. Infrastructure failures are thrown instead. */
export type RunnerOutcome =
  | { status: 'succeeded'; exitCode: 0 }
  | { status: 'failed'; exitCode: number; failedStep: string }
  | { status: 'timed_out'; failedStep?: string };

/** Progress reported while waiting, so the waiting activity can heartbeat and tell the workflow. */
export interface RunnerProgress {
  phase: 'starting' | 'checkout' | 'running';
  step?: string;
}

/**
 * Runs job attempts somewhere isolated (local processes, Kubernetes pods).
 *
 * Lifecycle: `start` → `wait` (any number of times, from any worker) → `destroy`; `cancel` at any time.
 *
 * Guarantees every backend gives:
 * - `start` is idempotent per `runnerId`: a second call for a runner that exists (running or
 *   finished) launches nothing and returns the same runner.
 * - `wait` may be called again after the caller crashed and reattaches to the same runner; it
 *   resolves with a {@link RunnerOutcome} when the steps ended, and rejects with an
 *   `InfrastructureError` (`RUNNER_START_FAILED`, `RUNNER_LOST`, `CHECKOUT_FAILED`, `EVICTED`)
 *   when the attempt could not run to its end for reasons that are not the job's fault.
 *   `wait` rejects with `NotFoundError` for a runner that was never started.
 * - `cancel` kills everything the runner started (the whole process tree / pod); it is safe to
 *   call on a finished, unknown or already cancelled runner.
 * - `destroy` removes the workspace and everything the runner left; it is safe to call after a
 *   failed start, twice, or on an unknown runner.
 */
export interface RunnerBackend {
  readonly name: string;
  /** Moving files into and out of workspaces (artifacts); absent when the backend cannot. */
  readonly workspaceFiles?: RunnerWorkspaceFiles;
  start(spec: RunnerSpec): Promise<void>;
  wait(
    runnerId: string,
    options: { signal?: AbortSignal; onProgress?: (progress: RunnerProgress) => void },
  ): Promise<RunnerOutcome>;
  cancel(runnerId: string): Promise<void>;
  destroy(runnerId: string): Promise<void>;
}

/**
 * Optional capability of a {@link RunnerBackend}: files into a workspace before the steps, and
 * out of it after them. Jobs that declare or receive artifacts need a backend that has it.
 *
 * Lifecycle, for one runner: `stageInputs` (before `start`) → `start` → the backend places the
 * staged files in the workspace after the checkout and before the first step → steps → when
 * `spec.artifacts` is set and `when` fits the outcome, the backend matches those globs in the
 * workspace → `wait` resolves → `collectedOutputs` / `openOutput` (before `destroy`).
 *
 * Guarantees every backend gives:
 * - No file is ever read or written outside the workspace. A staged path is checked again when
 *   placed; a matched path (or a symbolic link along it) that leads outside the workspace ends the
 *   attempt with `ARTIFACT_INVALID`, named in the error and the job log.
 * - A glob that matches nothing is a warning line in the job log, not a failure.
 * - `stageInputs` replaces whatever was staged before for the runner, and does nothing once the
 *   runner was started (a retried launch). `destroy` removes staged files too.
 */
export interface RunnerWorkspaceFiles {
  stageInputs(runnerId: string, inputs: StagedInputs): Promise<void>;
  /** What the runner matched after its steps; `undefined` when it matched nothing (no `artifacts`, or `when` did not fit). */
  collectedOutputs(runnerId: string): Promise<CollectedFile[] | undefined>;
  /** Reads one collected file; rejects with `ARTIFACT_INVALID` if its path now leads outside the workspace. */
  openOutput(runnerId: string, path: string): Promise<Readable>;
}

/** Files to place in a workspace, and lines to show in the job log when they are placed. */
export interface StagedInputs {
  files: StagedFile[];
  /** System lines for the job log (say, a needed job whose artifacts expired). */
  notes: string[];
}

/** One file to place: where, with which permission bits, from which job, and its content. */
export interface StagedFile {
  /** `/`-separated, relative to the workspace. */
  path: string;
  mode: number;
  size: number;
  /** Key of the job that produced it. */
  fromJob: string;
  /** Opens the content (already checked against its hash while it flows). */
  open(): Promise<Readable>;
}

/** One file matched after the steps. */
export interface CollectedFile {
  path: string;
  size: number;
  mode: number;
}
