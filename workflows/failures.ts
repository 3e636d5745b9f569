import { ApplicationFailure } from '@temporalio/workflow';

/** The Kiln error code carried by a failure chain (`ActivityFailure` → `ApplicationFailure.type`). */
export function failureCodeOf(err: unknown): string | undefined {
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) {
    if (cur instanceof ApplicationFailure && cur.type) return cur.type;
  }
  return undefined;
}

/** The innermost message of a failure chain: what actually went wrong, not "Activity task failed". */
export function rootMessage(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  for (let cur: unknown = err; cur instanceof Error; cur = cur.cause) message = cur.message || message;
  return message;
}
