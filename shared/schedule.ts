import type { BuildStatus, JobState } from './build-state.ts';
import { isFinalJobStatus } from './build-state.ts';
import type { CompiledJob } from './pipeline/types.ts';

/** What the build workflow should do next. */
export interface SchedulePlan {
  /** Jobs to launch now, in pipeline order, within the in-flight bound. */
  start: string[];
  /** Jobs that can never run, with the reason a person sees. */
  skip: { key: string; reason: string }[];
}

/**
 * Decides which pending jobs start and which are skipped. Pure, so it is unit-tested apart from
 * Temporal. A job starts when every job it needs has succeeded; it is skipped when its `if` is
 * false or any job it needs ended in anything but success (transitively, since skipped counts).
 */
export function planNext(
  jobs: readonly CompiledJob[],
  states: readonly JobState[],
  maxInFlight: number,
): SchedulePlan {
  const status = new Map(states.map((s) => [s.key, s.status]));
  const plan: SchedulePlan = { start: [], skip: [] };
  let inFlight = states.filter((s) => s.status === 'queued' || s.status === 'running').length;

  // Jobs are in topological order, so one pass sees every need's decision before the job itself.
  for (const job of jobs) {
    if (status.get(job.key) !== 'pending') continue;
    if (!job.enabled) {
      plan.skip.push({ key: job.key, reason: `condition is false: ${job.condition ?? ''}`.trim() });
      status.set(job.key, 'skipped');
      continue;
    }
    const blocked = job.needs.find((need) => {
      const s = status.get(need);
      return s !== undefined && isFinalJobStatus(s) && s !== 'succeeded';
    });
    if (blocked !== undefined) {
      plan.skip.push({ key: job.key, reason: `needs "${blocked}", which ended ${status.get(blocked)}` });
      status.set(job.key, 'skipped');
      continue;
    }
    const ready = job.needs.every((need) => status.get(need) === 'succeeded');
    if (ready && inFlight < maxInFlight) {
      plan.start.push(job.key);
      status.set(job.key, 'queued');
      inFlight++;
    }
  }
  return plan;
}

/** Final status of a build whose jobs are all final. */
export function finalBuildStatus(states: readonly JobState[], cancelled: boolean): BuildStatus {
  if (cancelled) return 'cancelled';
  if (states.some((s) => s.status === 'errored')) return 'errored';
  if (states.some((s) => s.status === 'failed' || s.status === 'timed_out' || s.status === 'cancelled')) {
    return 'failed';
  }
  return 'succeeded';
}
