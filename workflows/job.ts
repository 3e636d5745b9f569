import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.ts';
import { FailureCodes, isInfrastructureCode } from '../shared/errors.ts';
import { runnerIdFor } from '../shared/ids.ts';
import { jobProgressSignal, type JobInput, type JobResult } from '../shared/workflow-api.ts';
import { runnerAwaiting, runnerControl, slotWaiting } from './activity-profiles.ts';
import { failureCodeOf, rootMessage } from './failures.ts';

type Activities = ReturnType<typeof createActivities>;

/** `priority:` in the pipeline, as the quota broker orders it (higher first). */
const PRIORITY = { high: 2, normal: 1, low: 0 } as const;

/**
 * Runs one job: launch a runner, await it, classify the outcome. A step failure or timeout is
 * final. An infrastructure failure relaunches the job with a new attempt (new runner id) after
 * an exponential backoff, up to `job.retries` times, then ends `errored`. Whatever happens, the
 * runner is killed and its workspace removed in a non-cancellable scope.
 */
export async function jobWorkflow(input: JobInput): Promise<JobResult> {
  const { job, settings } = input;
  const control = proxyActivities<Activities>({ ...runnerControl, taskQueue: settings.runnerTaskQueue });
  const awaiting = proxyActivities<Activities>({
    ...runnerAwaiting(job.timeoutMs, settings.heartbeatTimeoutMs),
    taskQueue: settings.runnerTaskQueue,
  });
  const queueing = proxyActivities<Activities>({
    ...slotWaiting(settings.heartbeatTimeoutMs),
    taskQueue: settings.runnerTaskQueue,
  });
  const leaseMs = settings.quotaLeaseMs ?? 60_000;
  // When the first attempt got its runner slot: time spent queued is not time spent running.
  let firstStartedAt: string | undefined;
  let previousFailure: string | undefined;

  for (let attempt = 1; ; attempt++) {
    const runnerId = runnerIdFor(input.buildId, job.key, attempt);
    let reported: Promise<void> | undefined;
    try {
      await queueing.acquireRunnerSlot({
        leaseId: runnerId,
        tenant: input.tenant ?? 'default',
        priority: job.priority ? PRIORITY[job.priority] : (input.defaultPriority ?? 1),
        resourceClass: job.resourceClass,
        labels: job.labels,
        leaseMs,
        buildWorkflowId: workflowInfo().parent?.workflowId ?? workflowInfo().workflowId,
        jobKey: job.key,
      });
      firstStartedAt ??= new Date().toISOString();
      // Not awaited before launching: the signal and the launch go out in the same workflow task.
      reported = reportProgress(input, { attempt, runnerId, message: previousFailure });
      const outcome = await awaiting.runAttempt(
        {
          runnerId,
          buildId: input.buildId,
          jobKey: job.key,
          attempt,
          checkout: input.checkout,
          steps: job.steps,
          env: job.env,
          timeoutMs: job.timeoutMs,
          image: job.image,
          resourceClass: job.resourceClass,
          projectId: input.projectId,
          secrets: job.secrets,
          ...(job.artifacts ? { artifacts: job.artifacts } : {}),
          ...(job.needs.length > 0 ? { needs: job.needs } : {}),
        },
        { leaseMs },
      );
      await reported;
      const base = { attempt, runnerId, startedAt: firstStartedAt, finishedAt: new Date().toISOString() };
      switch (outcome.status) {
        case 'succeeded':
          return { ...base, status: 'succeeded', exitCode: 0 };
        case 'failed':
          return {
            ...base,
            status: 'failed',
            exitCode: outcome.exitCode,
            failureCode: FailureCodes.STEP_FAILED,
            failedStep: outcome.failedStep,
            message: `step "${outcome.failedStep}" exited with code ${outcome.exitCode}`,
          };
        case 'timed_out':
          return {
            ...base,
            status: 'timed_out',
            failureCode: FailureCodes.JOB_TIMED_OUT,
            failedStep: outcome.failedStep,
            message: `job exceeded its timeout of ${Math.round(job.timeoutMs / 1000)}s`,
          };
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      const code = failureCodeOf(err);
      if (
        code === FailureCodes.SECRET_NOT_FOUND ||
        code === FailureCodes.SECRET_ACCESS_DENIED ||
        code === FailureCodes.QUOTA_UNSATISFIABLE ||
        code === FailureCodes.ARTIFACT_INVALID
      ) {
        // The job asks for something that cannot exist (a secret, a runner, a file outside its
        // workspace): final, whatever the attempt.
        return {
          status: 'failed',
          attempt,
          runnerId,
          startedAt: firstStartedAt,
          finishedAt: new Date().toISOString(),
          failureCode: code,
          message: rootMessage(err),
        };
      }
      if (!isInfrastructureCode(code)) throw err;
      previousFailure = `attempt ${attempt}: ${code}: ${rootMessage(err)}`;
      if (attempt > job.retries) {
        return {
          status: 'errored',
          attempt,
          runnerId,
          startedAt: firstStartedAt,
          finishedAt: new Date().toISOString(),
          failureCode: code as JobResult['failureCode'],
          message: `infrastructure failure, ${job.retries} retries exhausted (${previousFailure})`,
        };
      }
      log.warn('infrastructure failure, relaunching', { job: job.key, attempt, code });
    } finally {
      // Kill and clean up even when the job is being cancelled: cancellation must not leak runners.
      // destroyRunner kills whatever still runs before removing the workspace.
      await CancellationScope.nonCancellable(() => control.destroyRunner(runnerId));
    }
    await sleep(settings.infraRetryBackoffMs * 2 ** (attempt - 1));
  }
}

/** Tells the parent build that an attempt is starting, so its query shows attempt and runner. */
async function reportProgress(
  input: JobInput,
  progress: { attempt: number; runnerId: string; message: string | undefined },
): Promise<void> {
  const parent = workflowInfo().parent;
  if (!parent) return;
  const signalled = getExternalWorkflowHandle(parent.workflowId).signal(jobProgressSignal, {
    key: input.job.key,
    status: 'running',
    attempt: progress.attempt,
    runnerId: progress.runnerId,
    startedAt: new Date().toISOString(),
    ...(progress.message ? { message: progress.message } : {}),
  });
  // A parent that is already closing cannot be told; the job's result still reaches it.
  await signalled.catch((err: unknown) =>
    log.warn('cannot report progress to the build', { error: String(err) }),
  );
}
