import type { ProjectionStore } from '../adapters/projections/port.ts';
import type { RunnerBackend } from '../adapters/runner/port.ts';
import type { ProjectSecrets } from '../adapters/secrets/port.ts';
import type { BuildNotifier } from '../adapters/notify/port.ts';
import type { QuotaBroker } from '../adapters/quota/port.ts';
import type { Vcs } from '../adapters/vcs/port.ts';
import { createPipelineActivities } from './pipeline.ts';
import { createProjectionActivities } from './projections.ts';
import { createQuotaActivities } from './quota.ts';
import { createRunnerActivities } from './runner.ts';

/** The external systems activities talk to; `workers/` wires real adapters in. */
export interface ActivityPorts {
  vcs: Vcs;
  runner: RunnerBackend;
  store: ProjectionStore;
  secrets: ProjectSecrets;
  quota: QuotaBroker;
  notifier: BuildNotifier;
}

/** All of Kiln's activities, built over ports. Workflows import this only as a type. */
export function createActivities(ports: ActivityPorts) {
  return {
    ...createPipelineActivities(ports),
    ...createProjectionActivities(ports),
    ...createRunnerActivities(ports),
    ...createQuotaActivities(ports),
  };
}

/** Orchestration activities only (the orchestrator worker's task queue). */
export function createOrchestratorActivities(ports: Pick<ActivityPorts, 'vcs'>) {
  return createPipelineActivities(ports);
}

/** Build history writes only (the orchestrator's `-history` task queue). */
export function createHistoryActivities(ports: Pick<ActivityPorts, 'store'>) {
  return createProjectionActivities(ports);
}

/** Runner activities only (the runner worker's task queue). */
export function createRunnerWorkerActivities(
  ports: Pick<ActivityPorts, 'runner' | 'secrets' | 'quota' | 'notifier'>,
) {
  return { ...createRunnerActivities(ports), ...createQuotaActivities(ports) };
}
