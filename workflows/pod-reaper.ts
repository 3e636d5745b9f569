import { proxyActivities } from '@temporalio/workflow';
import type { createPodReaperActivities } from '../activities/pod-reaper.ts';
import type { ReapResult } from '../adapters/runner/kubernetes/pod-reaper.ts';

/** What one reaper run is told; the schedule fills it from the configuration. */
export interface PodReaperInput {
  /** The runner workers' queue: they hold the cluster credentials. */
  runnerTaskQueue: string;
}

/**
 * Run by the `kiln-pod-reaper` schedule: one pass over the runner namespace on a runner worker
 * (see `PodReaper`). A pass is short and idempotent, so it is retried a few times and otherwise
 * left to the next scheduled run.
 */
export async function podReaperWorkflow(input: PodReaperInput): Promise<ReapResult & { skipped?: true }> {
  const { reapRunnerPods } = proxyActivities<ReturnType<typeof createPodReaperActivities>>({
    taskQueue: input.runnerTaskQueue,
    startToCloseTimeout: '10 minutes',
    retry: { initialInterval: '5s', backoffCoefficient: 2, maximumAttempts: 3 },
  });
  return reapRunnerPods({ now: Date.now() });
}
