import type { Client } from '@temporalio/client';
import type { KilnConfig } from '../shared/config.ts';
import type { podReaperWorkflow } from '../workflows/pod-reaper.ts';
import { ensureSchedule, type KilnSchedule } from './schedules.ts';

/** Id of the reaper schedule (`temporal schedule trigger --schedule-id kiln-pod-reaper`). */
export const POD_REAPER_SCHEDULE_ID = 'kiln-pod-reaper';

/** The `kiln-pod-reaper` schedule: every 5 minutes, one `podReaperWorkflow`; an overdue run is skipped. */
export function podReaperSchedule(config: KilnConfig): KilnSchedule<typeof podReaperWorkflow> {
  return {
    id: POD_REAPER_SCHEDULE_ID,
    spec: { intervals: [{ every: '5 minutes' }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'podReaperWorkflow',
      workflowId: POD_REAPER_SCHEDULE_ID,
      taskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
      args: [{ runnerTaskQueue: config.KILN_RUNNER_TASK_QUEUE }],
      workflowRunTimeout: '30 minutes',
    },
    note: 'Deletes Kiln runner pods and Secrets past their deadline or whose job workflow is closed.',
  };
}

/** Creates or updates the reaper schedule (every orchestrator start, with the kubernetes backend). */
export function ensurePodReaperSchedule(client: Client, config: KilnConfig): Promise<'created' | 'updated'> {
  return ensureSchedule(client, podReaperSchedule(config));
}
