import { ApplicationFailure } from '@temporalio/common';
import { FINAL_CODES, KilnError } from '../shared/errors.ts';

/**
 * Runs an activity body and turns Kiln errors into `ApplicationFailure`s whose `type` is the
 * error code, so workflows classify by code and final codes are never retried.
 */
export async function withFailureCodes<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof KilnError) {
      throw ApplicationFailure.create({
        type: err.code,
        message: err.message,
        nonRetryable: FINAL_CODES.includes(err.code),
        cause: err.cause instanceof Error ? err.cause : undefined,
      });
    }
    throw err;
  }
}
