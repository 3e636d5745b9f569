import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createTemporalNotifier } from '../adapters/notify/temporal-notifier.ts';
import type { KilnConfig } from '../shared/config.ts';
import { bundleWorkflows, createKilnWorkers } from './create-workers.ts';
import type { KilnPorts } from './ports.ts';
import { PodReaper, temporalWorkflowState } from '../adapters/runner/kubernetes/pod-reaper.ts';
import { ensurePodReaperSchedule } from './pod-reaper-schedule.ts';
import { createKubeApi } from './ports.ts';
import { ensureRetentionSchedule } from './retention-schedule.ts';
import { temporalAddress } from './temporal-address.ts';

export type WorkerRole = 'orchestrator' | 'runner';

export interface RunningWorkers {
  /** Resolves when every worker stopped (after `stop()`, or SIGINT/SIGTERM through the runtime). */
  done: Promise<void>;
  /** Drains the workers and closes their connections. The ports stay open: they are the caller's. */
  stop(): Promise<void>;
  /** Whether every worker is polling its task queue (not starting, draining, stopped or failed). */
  healthy(): boolean;
}

/**
 * Starts Kiln's workers of `roles` in this process over `ports`: one worker connection, one client
 * connection (for signals to builds), the workflow code bundled once (orchestrator only).
 */
export async function startKilnWorkers(
  config: KilnConfig,
  ports: KilnPorts,
  roles: WorkerRole[] = ['orchestrator', 'runner'],
): Promise<RunningWorkers> {
  const address = temporalAddress(config);
  const connection = await NativeConnection.connect({ address });
  const client = new Client({
    connection: await Connection.connect({ address }),
    namespace: config.KILN_TEMPORAL_NAMESPACE,
  });
  const workers = await createKilnWorkers({
    connection,
    namespace: config.KILN_TEMPORAL_NAMESPACE,
    orchestratorTaskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
    runnerTaskQueue: config.KILN_RUNNER_TASK_QUEUE,
    workflowBundle: roles.includes('orchestrator') ? await bundleWorkflows() : { code: '' },
    ports: {
      ...ports,
      notifier: createTemporalNotifier(client),
      podReaper:
        config.KILN_RUNNER_BACKEND === 'kubernetes'
          ? new PodReaper({
              api: createKubeApi(config),
              namespace: config.KILN_KUBE_NAMESPACE,
              marginMs: config.KILN_KUBE_REAPER_MARGIN,
              workflowState: temporalWorkflowState(client),
            })
          : undefined,
    },
    roles,
  });
  if (roles.includes('orchestrator')) {
    // Every orchestrator start brings the schedule to the current settings. A failure here must
    // not keep builds from running: the next start tries again.
    await ensureRetentionSchedule(client, config).catch((err: unknown) =>
      console.error('kiln: could not create or update the kiln-retention schedule:', err),
    );
    if (config.KILN_RUNNER_BACKEND === 'kubernetes') {
      await ensurePodReaperSchedule(client, config).catch((err: unknown) =>
        console.error('kiln: could not create or update the kiln-pod-reaper schedule:', err),
      );
    }
  }
  const done = Promise.allSettled(workers.map((w) => w.run())).then(async (results) => {
    await connection.close();
    await client.connection.close();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  return {
    done,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await done.catch(() => undefined);
    },
    healthy: () => workers.every((w) => w.getState() === 'RUNNING'),
  };
}
