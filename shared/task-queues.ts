/** Default task queue of build/job workflows and orchestration activities (git, pipeline). */
export const ORCHESTRATOR_TASK_QUEUE = 'kiln-orchestrator';

/** Default task queue of runner activities: launch, await, cancel and destroy runners. */
export const RUNNER_TASK_QUEUE = 'kiln-runner';

/** Task queue of build history writes, beside an orchestrator queue: `<orchestrator>-history`. */
export function historyTaskQueue(orchestratorTaskQueue: string): string {
  return `${orchestratorTaskQueue}-history`;
}
