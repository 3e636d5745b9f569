import type { BuildProjection, JobProjection, ProjectionStore } from '../adapters/projections/port.ts';
import type { BuildState } from '../shared/build-state.ts';
import { withFailureCodes } from './failures.ts';

export interface ProjectBuildInput {
  projectId: string;
  /** Strictly increasing per build (the workflow derives it from workflow time). */
  version: number;
  build: BuildState;
}

/** Activities that write the build history read model. Idempotent: a retry rewrites the same version. */
export function createProjectionActivities(ports: { store: ProjectionStore }) {
  return {
    /** Writes a whole build snapshot and its jobs; an older version never overwrites a newer one. */
    async projectBuild(input: ProjectBuildInput): Promise<void> {
      await withFailureCodes(async () => {
        await ports.store.upsertBuild(toBuildProjection(input));
        if (input.build.jobs.length > 0) {
          await ports.store.upsertJobs(input.build.id, input.version, input.build.jobs.map(toJobProjection));
        }
      });
    },
  };
}

export function toBuildProjection({ projectId, version, build }: ProjectBuildInput): BuildProjection {
  return {
    id: build.id,
    projectId,
    commitSha: build.commitSha,
    ref: build.ref,
    branch: build.branch,
    tag: build.tag,
    event: build.event,
    actor: build.actor,
    status: build.status,
    version,
    createdAt: build.createdAt,
    startedAt: build.startedAt,
    finishedAt: build.finishedAt,
    workflowId: build.workflowId,
    problems: build.problems,
    message: build.message,
  };
}

function toJobProjection(job: BuildState['jobs'][number]): JobProjection {
  return {
    key: job.key,
    name: job.name,
    needs: job.needs,
    status: job.status,
    attempt: job.attempt,
    runnerId: job.runnerId,
    exitCode: job.exitCode,
    failureCode: job.failureCode,
    failedStep: job.failedStep,
    message: job.message,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}
