/**
 * Kiln's failure taxonomy. Codes cross the activity boundary as `ApplicationFailure.type`, are
 * stored on jobs and returned by the API. Only infrastructure codes are ever retried.
 */

/** Codes that describe why a job did not succeed. */
export const FailureCodes = {
  STEP_FAILED: 'STEP_FAILED',
  JOB_TIMED_OUT: 'JOB_TIMED_OUT',
  PIPELINE_INVALID: 'PIPELINE_INVALID',
  RUNNER_START_FAILED: 'RUNNER_START_FAILED',
  RUNNER_LOST: 'RUNNER_LOST',
  CHECKOUT_FAILED: 'CHECKOUT_FAILED',
  EVICTED: 'EVICTED',
  CANCELLED: 'CANCELLED',
  /** A secret a job declares does not exist in its project: final, names the secret. */
  SECRET_NOT_FOUND: 'SECRET_NOT_FOUND',
  SECRET_ACCESS_DENIED: 'SECRET_ACCESS_DENIED',
  /** The secret store (Vault) could not be reached: an infrastructure failure. */
  SECRET_STORE_UNAVAILABLE: 'SECRET_STORE_UNAVAILABLE',
  /** No runner pool can ever serve the job (labels, class, tenant cap): final. */
  QUOTA_UNSATISFIABLE: 'QUOTA_UNSATISFIABLE',
  /** An artifact path escapes the workspace (`..`, a symlink pointing outside): final, names the path. */
  ARTIFACT_INVALID: 'ARTIFACT_INVALID',
  /** The object store failed while artifacts went up or down: an infrastructure failure. */
  ARTIFACT_STORE_UNAVAILABLE: 'ARTIFACT_STORE_UNAVAILABLE',
} as const;

export type FailureCode = (typeof FailureCodes)[keyof typeof FailureCodes];

/** Infrastructure failures: the job is relaunched with a new attempt, bounded, with backoff. */
export const INFRASTRUCTURE_CODES: readonly FailureCode[] = [
  FailureCodes.RUNNER_START_FAILED,
  FailureCodes.RUNNER_LOST,
  FailureCodes.CHECKOUT_FAILED,
  FailureCodes.EVICTED,
  FailureCodes.SECRET_STORE_UNAVAILABLE,
  FailureCodes.ARTIFACT_STORE_UNAVAILABLE,
];

/** Final codes: listed in `nonRetryableErrorTypes` of every activity profile. */
export const FINAL_CODES: readonly string[] = [
  FailureCodes.STEP_FAILED,
  FailureCodes.JOB_TIMED_OUT,
  FailureCodes.PIPELINE_INVALID,
  FailureCodes.CANCELLED,
  FailureCodes.SECRET_NOT_FOUND,
  FailureCodes.SECRET_ACCESS_DENIED,
  FailureCodes.QUOTA_UNSATISFIABLE,
  FailureCodes.ARTIFACT_INVALID,
  ...INFRASTRUCTURE_CODES, // an attempt's infrastructure failure is retried by the job workflow, not the activity
  'NOT_FOUND',
  'INVALID_INPUT',
];

export function isInfrastructureCode(code: string | undefined): boolean {
  return code !== undefined && (INFRASTRUCTURE_CODES as readonly string[]).includes(code);
}

/** Base class: every Kiln error has a stable code and a message a person understands. */
export class KilnError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KilnError';
    this.code = code;
  }
}

/** A runner could not start, vanished, or lost its workspace: retried with a new attempt. */
export class InfrastructureError extends KilnError {
  constructor(code: FailureCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'InfrastructureError';
  }
}

/** Something asked for does not exist (an unknown build, job, project or runner). */
export class NotFoundError extends KilnError {
  readonly what: string;
  constructor(what: string, message: string) {
    super('NOT_FOUND', message);
    this.name = 'NotFoundError';
    this.what = what;
  }
}

/** Input that can never succeed as given (bad request field, bad config value). */
export class InvalidInputError extends KilnError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('INVALID_INPUT', message);
    this.name = 'InvalidInputError';
    this.field = field;
  }
}

/** An artifact path that would read or write outside the workspace: the job fails, not retried. */
export class ArtifactInvalidError extends KilnError {
  readonly path: string;
  constructor(path: string, message: string) {
    super(FailureCodes.ARTIFACT_INVALID, message);
    this.name = 'ArtifactInvalidError';
    this.path = path;
  }
}
