/** Errors of the quota layer. Each carries a stable code (see `KilnError`). */
import { KilnError } from '../../shared/errors.ts';

/** Why a request can never be granted, whatever else happens. */
export type UnsatisfiableReason = 'unknown-class' | 'no-pool' | 'pool-capacity' | 'tenant-cap';

/**
 * The request can never be granted with the current configuration: no pool carries the requested
 * labels, the resource class needs more tokens than any matching pool holds or than the tenant's
 * hard cap allows, or the class is unknown. Raised at once, never after a wait; final (a retry
 * cannot help).
 */
export class QuotaUnsatisfiableError extends KilnError {
  readonly reason: UnsatisfiableReason;
  constructor(reason: UnsatisfiableReason, message: string) {
    super('QUOTA_UNSATISFIABLE', message);
    this.name = 'QuotaUnsatisfiableError';
    this.reason = reason;
  }
}

/**
 * The lease is gone: it expired (no renewal within its lease time), was released, or the quota
 * store lost its state. Its tokens may already belong to another job; the holder must acquire
 * again (with the same lease id) before it counts as holding quota.
 */
export class LeaseLostError extends KilnError {
  readonly leaseId: string;
  constructor(leaseId: string) {
    super('LEASE_LOST', `lease "${leaseId}" is lost (expired, released, or its state is gone)`);
    this.name = 'LeaseLostError';
    this.leaseId = leaseId;
  }
}

/** The broker was closed while a request was waiting or a call was made after `close()`. */
export class QuotaBrokerClosedError extends KilnError {
  constructor() {
    super('QUOTA_BROKER_CLOSED', 'the quota broker is closed');
    this.name = 'QuotaBrokerClosedError';
  }
}
