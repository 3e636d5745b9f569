import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createTemporalNotifier } from '../adapters/notify/temporal-notifier.ts';
import { bundleWorkflows, createKilnWorkers } from './create-workers.ts';
import { loadConfigOrExit } from './load-config.ts';
import { createPorts } from './ports.ts';
import { installRuntime } from './runtime.ts';
import { temporalAddress } from './temporal-address.ts';

export type WorkerRole = 'orchestrator' | 'runner';

/**
 * Runs Kiln workers of the given roles in this process until SIGINT/SIGTERM: connects to
 * Temporal once, bundles the workflows once (orchestrator only).
 */
export async function runWorker(roles: WorkerRole[]): Promise<void> {
  const config = loadConfigOrExit();
  installRuntime(config);
  const connection = await NativeConnection.connect({ address: temporalAddress(config) });
  const ports = await createPorts(config);
  const client = new Client({
    connection: await Connection.connect({ address: temporalAddress(config) }),
    namespace: config.KILN_TEMPORAL_NAMESPACE,
  });
  const workers = await createKilnWorkers({
    connection,
    namespace: config.KILN_TEMPORAL_NAMESPACE,
    orchestratorTaskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
    runnerTaskQueue: config.KILN_RUNNER_TASK_QUEUE,
    workflowBundle: roles.includes('orchestrator') ? await bundleWorkflows() : { code: '' },
    ports: { ...ports, notifier: createTemporalNotifier(client) },
    roles,
  });
  console.log(`kiln worker (${roles.join(' + ')}) ready on ${temporalAddress(config)}`);
  await Promise.all(workers.map((w) => w.run()));
  await connection.close();
  await client.connection.close();
  await ports.close();
}
