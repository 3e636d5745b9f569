/**
 * Identifiers. Build ids are Temporal workflow ids; a job's workflow id is `<build id>/<job key>`;
 * a runner id is `<build id>-<job key>-<attempt>` (the idempotency key of a launch).
 */

const SAFE = /[^A-Za-z0-9._-]+/g;

/** Build id for a GitHub delivery: a redelivery of the same event maps to the same build. */
export function buildIdForDelivery(deliveryId: string): string {
  return `gh-${deliveryId.replace(SAFE, '-').slice(0, 100)}`;
}

/** Build ids are at most 128 characters of `[A-Za-z0-9._-]`, so they are safe in paths and URLs. */
export function isValidBuildId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id);
}

export function jobWorkflowId(buildId: string, jobKey: string): string {
  return `${buildId}/${jobKey}`;
}

export function runnerIdFor(buildId: string, jobKey: string, attempt: number): string {
  return `${buildId}-${jobKey}-${attempt}`;
}
