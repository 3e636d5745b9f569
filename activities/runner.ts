import { Context } from '@temporalio/activity';
import type { RunnerBackend, RunnerOutcome, RunnerProgress, RunnerSpec } from '../adapters/runner/port.ts';
import { withFailureCodes } from './failures.ts';

/** Activities over the runner backend. Every one is idempotent, so Temporal may retry it safely. */
export function createRunnerActivities(ports: { runner: RunnerBackend }) {
  const { runner } = ports;
  return {
    /** Launches the runner; a second launch of the same runner id does nothing. */
    async startRunner(spec: RunnerSpec): Promise<void> {
      return withFailureCodes(() => runner.start(spec));
    },

    /**
     * Waits for the runner to finish, heartbeating meanwhile so a dead worker is noticed. A retry
     * of this activity (after a worker crash) reattaches to the same runner: nothing runs twice.
     */
    async awaitRunner(runnerId: string): Promise<RunnerOutcome> {
      const ctx = Context.current();
      let progress: RunnerProgress = { phase: 'starting' };
      // The backend reports only on changes; this keeps the worker's liveness visible in between.
      // The SDK throttles the actual heartbeat RPCs.
      const intervalMs = Math.max(200, Math.min(5_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
      ctx.heartbeat(progress);
      const ticker = setInterval(() => ctx.heartbeat(progress), intervalMs);
      try {
        return await withFailureCodes(() =>
          runner.wait(runnerId, {
            signal: ctx.cancellationSignal,
            onProgress: (p) => {
              progress = p;
              ctx.heartbeat(p);
            },
          }),
        );
      } finally {
        clearInterval(ticker);
      }
    },

    /** Kills everything the runner started; safe on finished or unknown runners. */
    async cancelRunner(runnerId: string): Promise<void> {
      return withFailureCodes(() => runner.cancel(runnerId));
    },

    /** Kills what still runs and removes the workspace; safe after a failed start or twice. */
    async destroyRunner(runnerId: string): Promise<void> {
      return withFailureCodes(() => runner.destroy(runnerId));
    },
  };
}
