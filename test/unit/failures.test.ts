import { ActivityFailure, ApplicationFailure, RetryState } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { withFailureCodes } from '../../activities/failures.ts';
import { FailureCodes, InfrastructureError, isInfrastructureCode, KilnError } from '../../shared/errors.ts';
import { failureCodeOf } from '../../workflows/failures.ts';

describe('failure classification', () => {
  it('treats only infrastructure codes as retryable with a new attempt', () => {
    for (const code of ['RUNNER_START_FAILED', 'RUNNER_LOST', 'CHECKOUT_FAILED', 'EVICTED']) {
      expect(isInfrastructureCode(code)).toBe(true);
    }
    for (const code of [
      'STEP_FAILED',
      'JOB_TIMED_OUT',
      'PIPELINE_INVALID',
      'CANCELLED',
      undefined,
      'SOMETHING',
    ]) {
      expect(isInfrastructureCode(code)).toBe(false);
    }
  });

  it('turns Kiln errors into non-retryable ApplicationFailures typed by code', async () => {
    const failure = await withFailureCodes(async () => {
      throw new InfrastructureError(FailureCodes.RUNNER_LOST, 'runner vanished');
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'RUNNER_LOST', message: 'runner vanished', nonRetryable: true });

    const unknownCode = await withFailureCodes(async () => {
      throw new KilnError('SOMETHING_TRANSIENT', 'flaky');
    }).catch((err: unknown) => err);
    expect(unknownCode).toMatchObject({ type: 'SOMETHING_TRANSIENT', nonRetryable: false });

    const plain = new Error('plain');
    await expect(withFailureCodes(async () => Promise.reject(plain))).rejects.toBe(plain);
  });

  it('finds the code through the activity failure chain', () => {
    const cause = ApplicationFailure.create({ type: 'CHECKOUT_FAILED', message: 'no such repo' });
    const wrapped = new ActivityFailure(
      'activity failed',
      'startRunner',
      'x',
      RetryState.NON_RETRYABLE_FAILURE,
      '1',
      cause,
    );
    expect(failureCodeOf(wrapped)).toBe('CHECKOUT_FAILED');
    expect(failureCodeOf(new Error('no code'))).toBeUndefined();
  });
});
