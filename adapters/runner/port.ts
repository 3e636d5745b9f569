import type { CompiledStep } from '../../shared/pipeline/types.ts';

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
  start(spec: RunnerSpec): Promise<void>;
  wait(
    runnerId: string,
    options: { signal?: AbortSignal; onProgress?: (progress: RunnerProgress) => void },
  ): Promise<RunnerOutcome>;
  cancel(runnerId: string): Promise<void>;
  destroy(runnerId: string): Promise<void>;
}
