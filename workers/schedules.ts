import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Workflow } from '@temporalio/common';

/** A Temporal Schedule Kiln keeps in place: what to start, and when. */
export interface KilnSchedule<W extends Workflow = Workflow> {
  id: string;
  spec: ScheduleSpec;
  action: ScheduleOptionsStartWorkflowAction<W>;
  /** What a run does when the previous one is still going. @default SKIP */
  overlap?: ScheduleOverlapPolicy;
  /** Shown in the Temporal UI and `temporal schedule describe`. */
  note?: string;
}

/**
 * Creates the schedule, or brings an existing one to `schedule`'s spec, action and policies, so
 * every worker start (of every replica, at once too) may call it: the result is one schedule with
 * the latest settings. A schedule an operator paused stays paused.
 */
export async function ensureSchedule<W extends Workflow>(
  client: Client,
  schedule: KilnSchedule<W>,
): Promise<'created' | 'updated'> {
  const policies = { overlap: schedule.overlap ?? ScheduleOverlapPolicy.SKIP };
  try {
    await client.schedule.create({
      scheduleId: schedule.id,
      spec: schedule.spec,
      action: schedule.action,
      policies,
      state: { note: schedule.note },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(schedule.id).update<W>((previous) => ({
    spec: schedule.spec,
    action: schedule.action,
    policies: { ...previous.policies, ...policies },
    state: {
      paused: previous.state.paused,
      note: previous.state.paused ? previous.state.note : schedule.note,
    },
  }));
  return 'updated';
}
