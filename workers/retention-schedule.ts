import type { Client } from '@temporalio/client';
import type { KilnConfig } from '../shared/config.ts';
import type { RetentionInput, retentionWorkflow } from '../workflows/retention.ts';
import { ensureSchedule, type KilnSchedule } from './schedules.ts';

/** Id of the retention schedule (`temporal schedule trigger --schedule-id kiln-retention`). */
export const RETENTION_SCHEDULE_ID = 'kiln-retention';

const DAY_MS = 86_400_000;

/** The retention settings of the configuration, as the workflow takes them. */
export function retentionInput(config: KilnConfig): RetentionInput {
  const days = config.KILN_LOG_RETENTION_DAYS;
  return { logRetentionMs: days === 0 ? null : days * DAY_MS, blobGraceMs: config.KILN_ARTIFACT_GC_GRACE };
}

/**
 * The `kiln-retention` schedule: every `KILN_RETENTION_INTERVAL`, one `retentionWorkflow` on the
 * orchestrator queue; a run still going when the next is due makes that one skip.
 */
export function retentionSchedule(config: KilnConfig): KilnSchedule<typeof retentionWorkflow> {
  return {
    id: RETENTION_SCHEDULE_ID,
    spec: { intervals: [{ every: config.KILN_RETENTION_INTERVAL }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'retentionWorkflow',
      workflowId: RETENTION_SCHEDULE_ID,
      taskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
      args: [retentionInput(config)],
      workflowRunTimeout: '12 hours',
    },
    note: 'Deletes old archived logs, expired artifacts and unreferenced artifact blobs.',
  };
}

/** Creates or updates the retention schedule from the configuration (every orchestrator start). */
export function ensureRetentionSchedule(client: Client, config: KilnConfig): Promise<'created' | 'updated'> {
  return ensureSchedule(client, retentionSchedule(config));
}
