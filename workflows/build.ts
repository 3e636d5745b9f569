import {
  CancellationScope,
  ChildWorkflowFailure,
  condition,
  executeChild,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.ts';
import type { BuildState, BuildStatus, JobState } from '../shared/build-state.ts';
import { isFinalBuildStatus, isFinalJobStatus } from '../shared/build-state.ts';
import { FailureCodes } from '../shared/errors.ts';
import { jobWorkflowId } from '../shared/ids.ts';
import type { CompiledJob, PipelineDag } from '../shared/pipeline/types.ts';
import { finalBuildStatus, planNext } from '../shared/schedule.ts';
import { KilnCommit, KilnStatus } from '../shared/search-attributes.ts';
import { historyTaskQueue } from '../shared/task-queues.ts';
import {
  buildStateQuery,
  cancelBuildSignal,
  jobProgressSignal,
  type BuildInput,
  type JobResult,
} from '../shared/workflow-api.ts';
import { pipelineLoading, projectionWriting } from './activity-profiles.ts';
import { failureCodeOf, rootMessage } from './failures.ts';
import { jobWorkflow } from './job.ts';

type Activities = ReturnType<typeof createActivities>;
const { loadPipeline } = proxyActivities<Activities>(pipelineLoading);

/**
 * One build: load and compile the pipeline at the exact commit, then run a child `jobWorkflow`
 * per job as soon as its needs have succeeded, bounded in flight. Returns the final state.
 *
 * Cancelling through `cancelBuildSignal` (the API) ends the build `cancelled` with a result; a
 * Temporal cancellation (the Web UI) does the same clean-up and then ends the execution cancelled.
 */
export async function buildWorkflow(input: BuildInput): Promise<BuildState> {
  const state = initialBuildState(input);
  const projector = startProjector(input.projectId, state);
  try {
    return await runBuild(input, state);
  } finally {
    await projector.drain();
  }
}

function initialBuildState(input: BuildInput): BuildState {
  return {
    id: input.buildId,
    workflowId: workflowInfo().workflowId,
    number: input.number,
    repo: input.repo,
    ref: input.ref,
    branch: input.branch,
    tag: input.tag,
    commitSha: input.sha,
    event: input.event,
    actor: input.actor,
    pipelinePath: input.pipelinePath,
    status: 'queued',
    createdAt: input.createdAt,
    problems: [],
    jobs: [],
  };
}

async function runBuild(input: BuildInput, state: BuildState): Promise<BuildState> {
  const build = new CancellationScope();
  let cancelReason: string | undefined;
  let changed = false;

  setHandler(buildStateQuery, () => state);
  setHandler(cancelBuildSignal, ({ reason }) => {
    if (cancelReason !== undefined || isFinalBuildStatus(state.status)) return;
    cancelReason = reason ?? 'cancelled by request';
    build.cancel();
  });
  setHandler(jobProgressSignal, (progress) => {
    const job = state.jobs.find((j) => j.key === progress.key);
    if (!job || isFinalJobStatus(job.status)) return;
    if (progress.status === 'queued') {
      // A late position report must not move a job that already runs back to the queue.
      if (job.status === 'queued') job.queuePosition = progress.position;
      return;
    }
    job.status = progress.status;
    delete job.queuePosition;
    job.attempt = progress.attempt;
    job.runnerId = progress.runnerId;
    job.startedAt ??= progress.startedAt;
    if (progress.message) job.message = progress.message;
  });

  const setStatus = (status: BuildStatus): void => {
    state.status = status;
    upsertSearchAttributes([{ key: KilnStatus, value: status }]);
  };

  const trackers: Promise<void>[] = [];
  try {
    await build.run(async () => {
      setStatus('running');
      state.startedAt = new Date().toISOString();
      const loaded = await loadPipeline({
        cloneUrl: input.cloneUrl,
        ref: input.ref,
        sha: input.sha,
        pipelinePath: input.pipelinePath,
        context: { branch: input.branch, tag: input.tag, event: input.event },
      });
      state.commitSha = loaded.sha;
      upsertSearchAttributes([{ key: KilnCommit, value: loaded.sha }]);
      if (!loaded.result.ok) {
        state.problems = loaded.result.problems;
        state.message = `${FailureCodes.PIPELINE_INVALID}: ${loaded.result.problems.length} problem(s) in ${input.pipelinePath}`;
        return;
      }
      const dag: PipelineDag = loaded.result.dag;
      state.jobs = dag.jobs.map(initialJobState);
      if (input.fromFork) withholdSecrets(dag, state);

      for (;;) {
        const plan = planNext(dag.jobs, state.jobs, input.settings.maxJobsInFlight);
        for (const { key, reason } of plan.skip)
          finishJob(state, key, { status: 'skipped', message: reason });
        for (const key of plan.start) {
          const job = dag.jobs.find((j) => j.key === key)!;
          jobState(state, key).status = 'queued';
          trackers.push(
            runJob(input, job, loaded.sha, state).finally(() => {
              changed = true;
            }),
          );
        }
        if (state.jobs.every((j) => isFinalJobStatus(j.status))) break;
        await condition(() => changed);
        changed = false;
      }
    });
  } catch (err) {
    if (!isCancellation(err)) {
      finishBuild(state, 'errored', `build failed: ${rootMessage(err)}`, setStatus);
      return state;
    }
    // Wait until every running child has killed its runner, so "cancelled" means nothing runs.
    await CancellationScope.nonCancellable(() => Promise.all(trackers));
    for (const job of state.jobs) {
      if (!isFinalJobStatus(job.status))
        finishJob(state, job.key, { status: 'skipped', message: 'build cancelled' });
    }
    finishBuild(state, 'cancelled', cancelReason ?? 'cancelled from Temporal', setStatus);
    if (cancelReason === undefined) throw err;
    return state;
  }

  if (state.problems.length > 0) {
    finishBuild(state, 'errored', state.message, setStatus);
  } else {
    finishBuild(state, finalBuildStatus(state.jobs, false), undefined, setStatus);
  }
  return state;
}

/** Runs one child job workflow and folds its result (or failure) into the build state. Never rejects. */
async function runJob(input: BuildInput, job: CompiledJob, sha: string, state: BuildState): Promise<void> {
  try {
    const result = await executeChild(jobWorkflow, {
      workflowId: jobWorkflowId(input.buildId, job.key),
      args: [
        {
          buildId: input.buildId,
          projectId: input.projectId,
          tenant: input.tenant,
          defaultPriority: defaultPriority(input),
          job,
          checkout: { cloneUrl: input.cloneUrl, sha, ref: input.ref, branch: input.branch, tag: input.tag },
          settings: input.settings,
        },
      ],
      parentClosePolicy: 'REQUEST_CANCEL',
      cancellationType: 'WAIT_CANCELLATION_COMPLETED',
    });
    finishJob(state, job.key, result);
  } catch (err) {
    if (isCancellation(err) || (err instanceof ChildWorkflowFailure && isCancellation(err.cause))) {
      finishJob(state, job.key, {
        status: 'cancelled',
        failureCode: FailureCodes.CANCELLED,
        message: 'cancelled',
      });
    } else {
      finishJob(state, job.key, {
        status: 'errored',
        failureCode: failureCodeOf(err) as JobResult['failureCode'],
        message: `job workflow failed: ${rootMessage(err)}`,
      });
    }
  }
}

/**
 * Pull requests from forks run untrusted code: like GitHub Actions, Kiln runs their build but
 * skips every job that declares secrets (and, through the scheduler, what depends on them).
 */
function withholdSecrets(dag: PipelineDag, state: BuildState): void {
  for (const job of dag.jobs) {
    if (job.secrets.length === 0) continue;
    finishJob(state, job.key, {
      status: 'skipped',
      message: `secrets (${job.secrets.join(', ')}) are not given to pull requests from forks`,
    });
  }
}

/**
 * Priority of jobs that set none: pushes to the default branch go first (they gate releases),
 * everything else is normal.
 */
function defaultPriority(input: BuildInput): number {
  return input.event === 'push' && (input.branch === 'main' || input.branch === 'master') ? 2 : 1;
}

function initialJobState(job: CompiledJob): JobState {
  return { key: job.key, name: job.name, needs: job.needs, status: 'pending', attempt: 0 };
}

function jobState(state: BuildState, key: string): JobState {
  const job = state.jobs.find((j) => j.key === key);
  if (!job) throw new Error(`unknown job ${key}`);
  return job;
}

function finishJob(
  state: BuildState,
  key: string,
  result: Partial<Omit<JobResult, 'status'>> & Pick<JobState, 'status'>,
): void {
  const job = jobState(state, key);
  Object.assign(job, stripUndefined(result));
  job.finishedAt ??= new Date().toISOString();
}

function finishBuild(
  state: BuildState,
  status: BuildStatus,
  message: string | undefined,
  setStatus: (s: BuildStatus) => void,
): void {
  if (message !== undefined) state.message = message;
  state.finishedAt = new Date().toISOString();
  setStatus(status);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Projects the build state into the history database whenever it changes: one write in flight at
 * a time, later changes coalesced into the next write, each with a higher version (derived from
 * workflow time, so it keeps increasing even after an operator resets the workflow). Runs in a
 * non-cancellable scope so a cancelled build still records its final state. A write that fails
 * after its bounded retries is logged; the next change writes the whole state again.
 */
function startProjector(projectId: string, state: BuildState): { drain(): Promise<void> } {
  let closed = false;
  let sequence = 0;
  // Its own task queue, so a slow or unavailable database never delays builds' own activities.
  const { projectBuild } = proxyActivities<Activities>({
    ...projectionWriting,
    taskQueue: historyTaskQueue(workflowInfo().taskQueue),
  });
  const done = CancellationScope.nonCancellable(async () => {
    let last = '';
    for (;;) {
      await condition(() => closed || JSON.stringify(state) !== last);
      const current = JSON.stringify(state);
      if (current === last) return;
      last = current;
      const version = Date.now() * 1000 + (sequence++ % 1000);
      try {
        await projectBuild({ projectId, version, build: JSON.parse(current) as BuildState });
      } catch (err) {
        log.warn('cannot project the build state', { buildId: state.id, error: rootMessage(err) });
      }
    }
  });
  return {
    async drain() {
      closed = true;
      await done;
    },
  };
}
