/**
 * Worker entry point: `node workers/worker.ts [--role orchestrator|runner|all]`.
 * Connects to Temporal, bundles the workflows once and runs until SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { NativeConnection } from '@temporalio/worker';
import { bundleWorkflows, createKilnWorkers } from './create-workers.ts';
import { createPorts } from './ports.ts';
import { installRuntime } from './runtime.ts';
import { loadConfigOrExit } from './load-config.ts';
import { temporalAddress } from './temporal-address.ts';

const { values } = parseArgs({ options: { role: { type: 'string', default: 'all' } } });
const role = values.role;
if (role !== 'orchestrator' && role !== 'runner' && role !== 'all') {
  console.error(`--role: expected orchestrator, runner or all (got "${role}")`);
  process.exit(2);
}

const config = loadConfigOrExit();
installRuntime(config);
const connection = await NativeConnection.connect({ address: temporalAddress(config) });
const roles = role === 'all' ? (['orchestrator', 'runner'] as const) : ([role] as const);
const workers = await createKilnWorkers({
  connection,
  namespace: config.KILN_TEMPORAL_NAMESPACE,
  orchestratorTaskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
  runnerTaskQueue: config.KILN_RUNNER_TASK_QUEUE,
  workflowBundle: roles.includes('orchestrator') ? await bundleWorkflows() : { code: '' },
  ports: createPorts(config),
  roles: [...roles],
});
console.log(`kiln worker (${roles.join(' + ')}) ready on ${temporalAddress(config)}`);
await Promise.all(workers.map((w) => w.run()));
await connection.close();
