import { proxyActivities } from '@temporalio/workflow';
import type { createRetentionActivities } from '../activities/retention.ts';

/** What one retention run is told; the schedule fills it from the configuration. */
export interface RetentionInput {
  /** Archived logs of builds last active longer ago than this are deleted; `null` keeps them. */
  logRetentionMs: number | null;
  /** An unreferenced blob is collected only once it is this old (an upload may be under way). */
  blobGraceMs: number;
  /** Keys per page of each sweep. @default 500 */
  pageSize?: number;
}

/** What one retention run deleted: counts and bytes only. */
export interface RetentionResult {
  logs: { builds: number; objects: number; bytes: number };
  artifactManifests: { deleted: number; bytes: number; unreadable: number };
  artifactBlobs: { deleted: number; bytes: number };
  bytesFreed: number;
}

/**
 * The sweeps walk the whole store in pages, heartbeating where they stand; a retry (another worker,
 * after a crash) resumes there. Bounded: a store that keeps failing fails the run, and the next
 * scheduled run starts over.
 */
const sweeps = proxyActivities<ReturnType<typeof createRetentionActivities>>({
  startToCloseTimeout: '6 hours',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '5s',
    backoffCoefficient: 2,
    maximumInterval: '2 minutes',
    maximumAttempts: 5,
    nonRetryableErrorTypes: ['INVALID_INPUT'],
  },
});

/**
 * Retention of the object store, run by the `kiln-retention` schedule: deletes archived logs past
 * their retention, then expired artifact manifests, then the blobs no manifest names any more
 * (manifests first, so the blobs they alone held are collectable in the same run). Cut-offs are
 * taken once from the workflow clock, so retried sweeps decide the same way.
 */
export async function retentionWorkflow(input: RetentionInput): Promise<RetentionResult> {
  const now = Date.now();
  const { pageSize } = input;
  const logs =
    input.logRetentionMs === null
      ? { builds: 0, deleted: 0, bytes: 0 }
      : await sweeps.deleteExpiredLogs({ before: now - input.logRetentionMs, pageSize });
  const manifests = await sweeps.deleteExpiredArtifactManifests({ before: now, pageSize });
  const blobs = await sweeps.collectUnreferencedArtifactBlobs({ before: now - input.blobGraceMs, pageSize });
  return {
    logs: { builds: logs.builds, objects: logs.deleted, bytes: logs.bytes },
    artifactManifests: {
      deleted: manifests.deleted,
      bytes: manifests.bytes,
      unreadable: manifests.unreadable,
    },
    artifactBlobs: { deleted: blobs.deleted, bytes: blobs.bytes },
    bytesFreed: logs.bytes + manifests.bytes + blobs.bytes,
  };
}
