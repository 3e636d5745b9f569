import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { KilnConfig } from '../shared/config.ts';
import { RETENTION_SCHEDULE_ID, retentionInput } from '../workers/retention-schedule.ts';
import { temporalAddress } from '../workers/temporal-address.ts';
import type { RetentionResult, retentionWorkflow } from '../workflows/retention.ts';

/**
 * `kiln retention run`: one retention run now, with the configured settings, on the orchestrator
 * workers (which must be running); waits for it and returns its counts. Refuses to start while an
 * earlier manual run is still going.
 */
export async function runRetentionNow(config: KilnConfig): Promise<RetentionResult> {
  const connection = await Connection.connect({ address: temporalAddress(config) });
  try {
    const client = new Client({ connection, namespace: config.KILN_TEMPORAL_NAMESPACE });
    const handle = await client.workflow
      .start<typeof retentionWorkflow>('retentionWorkflow', {
        workflowId: `${RETENTION_SCHEDULE_ID}-manual`,
        taskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
        args: [retentionInput(config)],
        workflowRunTimeout: '12 hours',
      })
      .catch((err: unknown) => {
        if (err instanceof WorkflowExecutionAlreadyStartedError)
          throw new Error(`a manual retention run (${RETENTION_SCHEDULE_ID}-manual) is already running`);
        throw err;
      });
    return await handle.result();
  } finally {
    await connection.close();
  }
}

/** The counts of a run as lines for a terminal. */
export function renderRetentionResult(result: RetentionResult): string {
  const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MiB`;
  return [
    `logs:               ${result.logs.builds} builds, ${result.logs.objects} objects, ${mib(result.logs.bytes)}`,
    `artifact manifests: ${result.artifactManifests.deleted} expired deleted, ${result.artifactManifests.unreadable} unreadable kept`,
    `artifact blobs:     ${result.artifactBlobs.deleted} unreferenced deleted, ${mib(result.artifactBlobs.bytes)}`,
    `freed:              ${mib(result.bytesFreed)}`,
  ].join('\n');
}
