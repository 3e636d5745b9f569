import type { Client } from '@temporalio/client';
import { jobProgressSignal } from '../../shared/workflow-api.ts';
import type { BuildNotifier } from './port.ts';

/** Signals the build workflow; the build folds the position into its live state. */
export function createTemporalNotifier(client: Client): BuildNotifier {
  return {
    async jobQueued(buildWorkflowId, { key, position }) {
      await client.workflow
        .getHandle(buildWorkflowId)
        .signal(jobProgressSignal, { key, status: 'queued', position })
        .catch(() => undefined); // the build may have ended meanwhile
    },
  };
}
