import { Context } from '@temporalio/activity';
import type { RunnerBackend, RunnerOutcome, RunnerProgress, RunnerSpec } from '../adapters/runner/port.ts';
import { withFailureCodes } from './failures.ts';

/** Activities over the runner backend. Every one is idempotent, so Temporal may retry it safely. */
export function createRunnerActivities(ports: { runner: RunnerBackend }) {
  const { runner } = ports;
  return {
    /**
     * Launches the runner (idempotent: a second launch of the same runner id does nothing) and
     * waits for it, heartbeating meanwhile so a dead worker is noticed. A retry of this activity
     * after a worker crash relaunches nothing and reattaches to the same runner: nothing runs twice.
     * One activity rather than two saves a workflow round trip on every job.
     */
    async runAttempt(spec: RunnerSpec): Promise<RunnerOutcome> {
      const ctx = Context.current();
      let progress: RunnerProgress = { phase: 'starting' };
      // The backend reports only on changes; this keeps the worker's liveness visible in between.
      // The SDK throttles the actual heartbeat RPCs.
      const intervalMs = Math.max(200, Math.min(5_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
      const ticker = setInterval(() => ctx.heartbeat(progress), intervalMs);
      try {
        return await withFailureCodes(async () => {
          await runner.start(spec);
          return runner.wait(spec.runnerId, {
            signal: ctx.cancellationSignal,
            onProgress: (p) => {
              progress = p;
              ctx.heartbeat(p);
            },
          });
        });
      } finally {
        clearInterval(ticker);
      }
    },

    /** Kills what still runs and removes the workspace; safe after a failed start or twice. */
    async destroyRunner(runnerId: string): Promise<void> {
      return withFailureCodes(() => runner.destroy(runnerId));
    },
  };
}
