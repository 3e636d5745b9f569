import { Context } from '@temporalio/activity';
import type { BuildNotifier } from '../adapters/notify/port.ts';
import type { QuotaBroker } from '../adapters/quota/port.ts';
import { withFailureCodes } from './failures.ts';

export interface AcquireSlotInput {
  /** The runner id: one slot per attempt, and a retried acquire finds the same slot. */
  leaseId: string;
  tenant: string;
  priority: number;
  resourceClass: string;
  labels: string[];
  leaseMs: number;
  buildWorkflowId: string;
  jobKey: string;
}

/** Activities over the fair-share quota broker. */
export function createQuotaActivities(ports: { quota: QuotaBroker; notifier: BuildNotifier }) {
  return {
    /**
     * Waits for a runner slot (event-driven inside the broker), heartbeating meanwhile and telling
     * the build the job's place in its tenant's queue. An unsatisfiable request fails at once.
     */
    async acquireRunnerSlot(input: AcquireSlotInput): Promise<{ pool: string; tokens: number }> {
      const ctx = Context.current();
      const ticker = setInterval(
        () => ctx.heartbeat(),
        Math.max(200, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3),
      );
      try {
        return await withFailureCodes(async () => {
          const lease = await ports.quota.acquire(
            {
              leaseId: input.leaseId,
              tenant: input.tenant,
              priority: input.priority,
              resourceClass: input.resourceClass,
              labels: input.labels,
              leaseMs: input.leaseMs,
            },
            {
              signal: ctx.cancellationSignal,
              onQueued: (position) =>
                void ports.notifier.jobQueued(input.buildWorkflowId, { key: input.jobKey, position }),
            },
          );
          return { pool: lease.pool, tokens: lease.tokens };
        });
      } finally {
        clearInterval(ticker);
      }
    },
  };
}
