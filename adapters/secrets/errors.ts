import { InvalidInputError, KilnError } from '../../shared/errors.ts';
import type { JobCredentialRequest } from './port.ts';

/** Codes of the secrets port. `SECRET_STORE_UNAVAILABLE` is an infrastructure failure. */
export const SecretErrorCodes = {
  SECRET_NOT_FOUND: 'SECRET_NOT_FOUND',
  SECRET_ACCESS_DENIED: 'SECRET_ACCESS_DENIED',
  SECRET_STORE_UNAVAILABLE: 'SECRET_STORE_UNAVAILABLE',
} as const;

/** Codes that no retry can fix: list them in `nonRetryableErrorTypes`. */
export const FINAL_SECRET_CODES: readonly string[] = [
  SecretErrorCodes.SECRET_NOT_FOUND,
  SecretErrorCodes.SECRET_ACCESS_DENIED,
];

/** Declared secrets without a value: the job fails at once, naming them. */
export class SecretNotFoundError extends KilnError {
  readonly projectId: string;
  readonly names: readonly string[];
  constructor(projectId: string, names: readonly string[]) {
    const list = names.map((n) => `"${n}"`).join(', ');
    super(
      SecretErrorCodes.SECRET_NOT_FOUND,
      `secret${names.length > 1 ? 's' : ''} ${list} not set for project ${projectId}`,
    );
    this.name = 'SecretNotFoundError';
    this.projectId = projectId;
    this.names = names;
  }
}

/** The credential may not read these names: expired, revoked, used up, or never granted them. */
export class SecretAccessDeniedError extends KilnError {
  readonly projectId: string;
  readonly names: readonly string[];
  constructor(projectId: string, names: readonly string[]) {
    super(
      SecretErrorCodes.SECRET_ACCESS_DENIED,
      `job credential may not read ${names.map((n) => `"${n}"`).join(', ')} of project ${projectId} ` +
        '(expired, revoked, used up, or not declared)',
    );
    this.name = 'SecretAccessDeniedError';
    this.projectId = projectId;
    this.names = names;
  }
}

/** The store cannot be reached or refused Kiln itself: retried as an infrastructure failure. */
export class SecretStoreUnavailableError extends KilnError {
  readonly operation: string;
  constructor(operation: string, message: string) {
    super(SecretErrorCodes.SECRET_STORE_UNAVAILABLE, `secret store unavailable (${operation}): ${message}`);
    this.name = 'SecretStoreUnavailableError';
    this.operation = operation;
  }
}

/** The outcome of reading one name with a credential. */
export type ReadOutcome =
  | { name: string; value: string }
  | { name: string; denied: true }
  | { name: string; missing: true }
  | { name: string; error: unknown };

/**
 * Folds per-name outcomes into values or the one error both adapters throw: final errors first
 * (denied, then missing, naming every such name), then the first infrastructure error.
 */
export function settleReads(projectId: string, outcomes: readonly ReadOutcome[]): Record<string, string> {
  const denied = outcomes.filter((o) => 'denied' in o).map((o) => o.name);
  if (denied.length > 0) throw new SecretAccessDeniedError(projectId, denied);
  const missing = outcomes.filter((o) => 'missing' in o).map((o) => o.name);
  if (missing.length > 0) throw new SecretNotFoundError(projectId, missing);
  const failed = outcomes.find((o) => 'error' in o);
  if (failed) throw failed.error;
  return Object.fromEntries(outcomes.flatMap((o) => ('value' in o ? [[o.name, o.value]] : [])));
}

const PROJECT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const REF_SEGMENT = /^[A-Za-z0-9_.-]{1,128}$/;

/** A project id is one path segment: letters, digits, `_ . -` (UUIDs fit). */
export function checkProjectId(projectId: string): string {
  if (!PROJECT_ID.test(projectId) || projectId.includes('..')) {
    throw new InvalidInputError('projectId', `invalid project id "${projectId}"`);
  }
  return projectId;
}

/**
 * A secret name is an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 128, except
 * `__proto__` (assigning it to an object would set the prototype, losing the value).
 */
export function checkSecretName(name: string): string {
  if (!SECRET_NAME.test(name) || name === '__proto__') {
    throw new InvalidInputError(
      'name',
      `invalid secret name "${name}": use letters, digits and _ (not first), at most 128`,
    );
  }
  return name;
}

/** Validates names and drops duplicates, keeping the first order. */
export function checkSecretNames(names: readonly string[]): string[] {
  if (names.length === 0) throw new InvalidInputError('names', 'at least one secret name is needed');
  return [...new Set(names.map(checkSecretName))];
}

/** A reference is `/`-separated segments of letters, digits and `_ . -`, never `.` or `..`. */
export function checkRef(ref: string): string {
  const segments = ref.split('/');
  if (ref.length > 512 || !segments.every((s) => REF_SEGMENT.test(s) && s !== '.' && s !== '..')) {
    throw new InvalidInputError('ref', `invalid secret reference "${ref}"`);
  }
  return ref;
}

/** A validated request with the TTL rounded up to whole seconds. */
export interface CheckedCredentialRequest {
  projectId: string;
  names: string[];
  ttlSeconds: number;
  /** Read budget (`uses × names`), or undefined for unlimited. */
  reads: number | undefined;
}

export function checkCredentialRequest(request: JobCredentialRequest): CheckedCredentialRequest {
  const projectId = checkProjectId(request.projectId);
  const names = checkSecretNames(request.names);
  if (!Number.isFinite(request.ttlMs) || request.ttlMs <= 0) {
    throw new InvalidInputError('ttlMs', 'ttlMs must be a positive number of milliseconds');
  }
  const { uses } = request;
  if (uses !== undefined && (!Number.isSafeInteger(uses) || uses < 1)) {
    throw new InvalidInputError('uses', 'uses must be a positive integer');
  }
  return {
    projectId,
    names,
    ttlSeconds: Math.ceil(request.ttlMs / 1000),
    reads: uses === undefined ? undefined : uses * names.length,
  };
}
