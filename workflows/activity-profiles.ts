import type { ActivityOptions } from '@temporalio/workflow';
import { FINAL_CODES } from '../shared/errors.ts';

/**
 * Named activity profiles. Infrastructure codes are non-retryable at the activity level on
 * purpose: a lost runner is relaunched by the job workflow with a new attempt, not by retrying
 * the same activity against a dead runner.
 */

/** Git fetch and pipeline compile: retried a few times for flaky networks, never forever. */
export const pipelineLoading: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumAttempts: 4,
    nonRetryableErrorTypes: ['PIPELINE_INVALID', 'NOT_FOUND', 'INVALID_INPUT'],
  },
};

/** Short runner control calls (launch, cancel, destroy): idempotent, so retries are safe. */
export const runnerControl: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '500ms',
    backoffCoefficient: 2,
    maximumAttempts: 5,
    nonRetryableErrorTypes: [...FINAL_CODES],
  },
};

/**
 * Awaiting a runner: heartbeats so a dead worker is noticed within the heartbeat timeout, and is
 * retried (on another worker) which reattaches to the same runner. Bounded: a runner is never
 * awaited forever.
 */
export function runnerAwaiting(jobTimeoutMs: number, heartbeatTimeoutMs: number): ActivityOptions {
  return {
    startToCloseTimeout: jobTimeoutMs + 5 * 60_000,
    heartbeatTimeout: heartbeatTimeoutMs,
    cancellationType: 'TRY_CANCEL',
    retry: {
      initialInterval: '500ms',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      maximumAttempts: 20,
      nonRetryableErrorTypes: [...FINAL_CODES],
    },
  };
}

/**
 * Projection writes: retried while the database is down, but bounded, so a build never waits on
 * its history forever (the live state stays available from the workflow itself).
 */
export const projectionWriting: ActivityOptions = {
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: ['NOT_FOUND', 'INVALID_INPUT'],
  },
};

/**
 * Waiting for a runner slot: as long as the queue takes (fair share decides, not a timer), with
 * heartbeats so a dead worker's waiter is taken over by another. Unsatisfiable requests are final.
 */
export function slotWaiting(heartbeatTimeoutMs: number): ActivityOptions {
  return {
    startToCloseTimeout: '24 hours',
    heartbeatTimeout: heartbeatTimeoutMs,
    cancellationType: 'TRY_CANCEL',
    retry: {
      initialInterval: '500ms',
      backoffCoefficient: 2,
      maximumInterval: '10s',
      maximumAttempts: 20,
      nonRetryableErrorTypes: [...FINAL_CODES],
    },
  };
}
