import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import {
  createHistoryActivities,
  createOrchestratorActivities,
  createRunnerWorkerActivities,
  type ActivityPorts,
} from '../activities/index.ts';
import { historyTaskQueue } from '../shared/task-queues.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/** Bundles the workflow code once; pass the result to every worker of the process. */
export async function bundleWorkflows(): Promise<WorkflowBundle> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
}

export interface KilnWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  orchestratorTaskQueue: string;
  runnerTaskQueue: string;
  workflowBundle: WorkflowBundle | { codePath: string };
  ports: ActivityPorts;
  /** Which workers to create in this process. @default ['orchestrator', 'runner'] */
  roles?: ('orchestrator' | 'runner')[];
  /** Runners awaited at once by one runner worker. @default 500 */
  maxConcurrentRunners?: number;
}

/**
 * Creates Kiln's workers. The orchestrator worker runs the workflows and git/pipeline
 * activities; the runner worker runs the runner activities next to the runner backend.
 */
export async function createKilnWorkers(options: KilnWorkerOptions): Promise<Worker[]> {
  const roles = options.roles ?? ['orchestrator', 'runner'];
  const workers: Worker[] = [];
  if (roles.includes('orchestrator')) {
    workers.push(
      await Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue: options.orchestratorTaskQueue,
        workflowBundle: options.workflowBundle,
        activities: createOrchestratorActivities(options.ports),
        maxConcurrentWorkflowTaskExecutions: 100,
      }),
      // History writes on their own queue: a slow database never holds up pipeline loading.
      await Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue: historyTaskQueue(options.orchestratorTaskQueue),
        activities: createHistoryActivities(options.ports),
        maxConcurrentActivityTaskExecutions: 20,
      }),
    );
  }
  if (roles.includes('runner')) {
    workers.push(
      await Worker.create({
        connection: options.connection,
        namespace: options.namespace,
        taskQueue: options.runnerTaskQueue,
        activities: createRunnerWorkerActivities(options.ports),
        // Awaiting a runner is mostly idle waiting, so one worker can hold many at once.
        maxConcurrentActivityTaskExecutions: options.maxConcurrentRunners ?? 500,
      }),
    );
  }
  return workers;
}

const quietBundlerLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string, meta?: unknown) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: unknown) => console.error(message, meta ?? ''),
};
