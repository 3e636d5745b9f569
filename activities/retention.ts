import { Context } from '@temporalio/activity';
import type { ObjectStore } from '../adapters/objects/port.ts';
import {
  collectUnreferencedBlobs,
  deleteExpiredManifests,
} from '../adapters/retention/artifact-retention.ts';
import { deleteExpiredLogs } from '../adapters/retention/log-retention.ts';
import type { SweepOptions, SweepProgress } from '../adapters/retention/sweep.ts';
import { InvalidInputError } from '../shared/errors.ts';
import { withFailureCodes } from './failures.ts';

/** Input shared by the retention sweeps: the cut-off (fixed by the workflow) and the page size. */
export interface RetentionSweepInput {
  /** Ms since the epoch: logs whose build was last active before it, blobs last written before it. */
  before: number;
  pageSize?: number;
}

/**
 * The retention sweeps over the object store, one activity each. Each heartbeats its progress
 * (last key done, counts so far) after every page, and a retry resumes from the last heartbeat;
 * the cut-off comes from the workflow, so a retry decides exactly as the first attempt did.
 * Counts only leave the activity: never a log line or a file name.
 */
export function createRetentionActivities(ports: { objects?: ObjectStore }) {
  const objects = (): ObjectStore => {
    if (ports.objects === undefined)
      throw new InvalidInputError('objects', 'retention needs the object store; this worker has none');
    return ports.objects;
  };
  return {
    /** Deletes the archived logs of builds last active before `before`. */
    async deleteExpiredLogs(input: RetentionSweepInput) {
      return withFailureCodes(() => deleteExpiredLogs(objects(), checkedBefore(input), sweepOptions(input)));
    },
    /** Deletes artifact manifests whose `expiresAt` is at or before `before`. */
    async deleteExpiredArtifactManifests(input: RetentionSweepInput) {
      return withFailureCodes(() =>
        deleteExpiredManifests(objects(), new Date(checkedBefore(input)), {
          ...sweepOptions(input),
          onUnreadable: (key, error) =>
            Context.current().log.warn(`retention: kept unreadable ${key}: ${error.message}`),
        }),
      );
    },
    /** Deletes blobs no manifest names, last written before `before`. */
    async collectUnreferencedArtifactBlobs(input: RetentionSweepInput) {
      return withFailureCodes(() =>
        collectUnreferencedBlobs(objects(), new Date(checkedBefore(input)), sweepOptions(input)),
      );
    },
  };
}

function checkedBefore(input: RetentionSweepInput): number {
  if (!Number.isFinite(input.before))
    throw new InvalidInputError(
      'before',
      `retention cut-off must be a time in ms (got ${String(input.before)})`,
    );
  return input.before;
}

/** Resume from the last heartbeat; heartbeat after each page, and stop there when cancelled. */
function sweepOptions(input: RetentionSweepInput): SweepOptions {
  const ctx = Context.current();
  return {
    pageSize: input.pageSize,
    resume: ctx.info.heartbeatDetails as SweepProgress | undefined,
    onProgress: (progress) => {
      ctx.heartbeat(progress);
      if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
    },
  };
}
