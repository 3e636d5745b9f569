import type { ArtifactStore } from '../adapters/artifacts/artifact-store.ts';
import type { ProjectionStore } from '../adapters/projections/port.ts';
import type { RunnerBackend } from '../adapters/runner/port.ts';
import type { ProjectSecrets } from '../adapters/secrets/port.ts';
import type { BuildNotifier } from '../adapters/notify/port.ts';
import type { QuotaBroker } from '../adapters/quota/port.ts';
import type { Vcs } from '../adapters/vcs/port.ts';
import type { PodReaper } from '../adapters/runner/kubernetes/pod-reaper.ts';
import type { LogEndPublisher } from './log-ends.ts';
import { createPipelineActivities } from './pipeline.ts';
import { createPodReaperActivities } from './pod-reaper.ts';
import { createProjectionActivities } from './projections.ts';
import { createQuotaActivities } from './quota.ts';
import { createRetentionActivities } from './retention.ts';
import { createRunnerActivities } from './runner.ts';

/** The external systems activities talk to; `workers/` wires real adapters in. */
export interface ActivityPorts {
  vcs: Vcs;
  runner: RunnerBackend;
  store: ProjectionStore;
  secrets: ProjectSecrets;
  quota: QuotaBroker;
  notifier: BuildNotifier;
  /** Artifacts in the object store; jobs that declare or need artifacts fail without it. */
  artifacts?: ArtifactStore;
  /** Ends the log of an attempt whose runner was lost; absent on the embedded log bus. */
  logEnds?: LogEndPublisher;
  /** Orphaned runner pods' reaper; only with the kubernetes runner backend. */
  podReaper?: PodReaper;
}

/** All of Kiln's activities, built over ports. Workflows import this only as a type. */
export function createActivities(ports: ActivityPorts) {
  return {
    ...createPipelineActivities(ports),
    ...createProjectionActivities(ports),
    ...createRunnerActivities(ports),
    ...createQuotaActivities(ports),
    ...createRetentionActivities({ objects: ports.artifacts?.objects }),
    ...createPodReaperActivities(ports),
  };
}

/**
 * Orchestration activities only (the orchestrator worker's task queue), with the retention sweeps
 * over the object store that archived logs and artifacts share.
 */
export function createOrchestratorActivities(ports: Pick<ActivityPorts, 'vcs' | 'artifacts'>) {
  return {
    ...createPipelineActivities(ports),
    ...createRetentionActivities({ objects: ports.artifacts?.objects }),
  };
}

/** Build history writes only (the orchestrator's `-history` task queue). */
export function createHistoryActivities(ports: Pick<ActivityPorts, 'store'>) {
  return createProjectionActivities(ports);
}

/** Runner activities only (the runner worker's task queue). */
export function createRunnerWorkerActivities(
  ports: Pick<
    ActivityPorts,
    'runner' | 'secrets' | 'quota' | 'notifier' | 'artifacts' | 'logEnds' | 'podReaper'
  >,
) {
  return {
    ...createRunnerActivities(ports),
    ...createQuotaActivities(ports),
    ...createPodReaperActivities(ports),
  };
}
