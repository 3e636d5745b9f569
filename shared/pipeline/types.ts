/**
 * The intermediate form of a pipeline: what `compilePipeline` returns and what the build
 * workflow schedules. It is plain data (it travels through Temporal history), never a secret.
 */

/** One problem found in a pipeline file, located for a person: `file:line:col message`. */
export interface Problem {
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  col: number;
  message: string;
}

/** A step after matrix substitution. `name` defaults to the first line of `run`. */
export interface CompiledStep {
  name: string;
  run: string;
  env: Record<string, string>;
}

/** One job of the DAG, after matrix expansion and `if` evaluation. */
export interface CompiledJob {
  /** Stable, URL- and file-safe identifier, unique in the pipeline (e.g. `test-node-20-os-linux`). */
  key: string;
  /** Display name (e.g. `test (node=20, os=linux)`). */
  name: string;
  /** Keys of the jobs this one waits for (a `needs` on a matrix job means all its expansions). */
  needs: string[];
  steps: CompiledStep[];
  /** Pipeline-level env merged with job env (job wins). Step env is kept on the step. */
  env: Record<string, string>;
  timeoutMs: number;
  /** Infrastructure retries (a step failure is never retried). */
  retries: number;
  image?: string;
  /** The matrix combination that produced this job, if any. */
  matrix?: Record<string, string>;
  /** The `if` expression as written, if any. */
  condition?: string;
  /** Result of evaluating `if` against the build context; a disabled job ends `skipped`. */
  enabled: boolean;
  /** Resource class to reserve (`resources:`). @default small */
  resourceClass: string;
  /** Labels the runner pool must have (`runs-on:`). */
  labels: string[];
  /** `priority:`; when absent the project's default for the event applies. */
  priority?: 'high' | 'normal' | 'low';
  /** Names of project secrets exposed to the job as environment variables (`secrets:`). */
  secrets: string[];
  /** Files the job keeps after its steps (`artifacts:`); absent when it keeps none. */
  artifacts?: ArtifactsSpec;
}

/** When a job's artifacts are kept, as in GitLab CI. */
export type ArtifactWhen = 'on_success' | 'on_failure' | 'always';

/** A job's `artifacts:`: workspace-relative globs (matrix substituted) and how long to keep them. */
export interface ArtifactsSpec {
  paths: string[];
  /** @default on_success */
  when: ArtifactWhen;
  /** `expire_in` in milliseconds; `null` for `never`; absent: the installation's default. */
  expireInMs?: number | null;
}

/** A compiled pipeline: jobs in a topological order (every job after all of its needs). */
export interface PipelineDag {
  file: string;
  jobs: CompiledJob[];
}

/** What `if` expressions may look at. */
export interface PipelineContext {
  branch?: string;
  tag?: string;
  /** `push`, `pull_request` or `manual`. */
  event: string;
}

export type CompileResult = { ok: true; dag: PipelineDag } | { ok: false; problems: Problem[] };
