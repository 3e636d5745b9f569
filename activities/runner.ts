import { Context } from '@temporalio/activity';
import type { RunnerBackend, RunnerOutcome, RunnerProgress, RunnerSpec } from '../adapters/runner/port.ts';
import type { QuotaBroker } from '../adapters/quota/port.ts';
import type { ProjectSecrets } from '../adapters/secrets/port.ts';
import type { ArtifactStore } from '../adapters/artifacts/artifact-store.ts';
import { keepArtifacts, stageNeededArtifacts } from './artifacts.ts';
import { withFailureCodes } from './failures.ts';
import { endLogOfLostRunner, type LogEndPublisher } from './log-ends.ts';

/** Activities over the runner backend. Every one is idempotent, so Temporal may retry it safely. */
export function createRunnerActivities(ports: {
  runner: RunnerBackend;
  secrets: ProjectSecrets;
  quota: QuotaBroker;
  /** Where jobs keep their artifacts; a job that declares or needs some fails without it. */
  artifacts?: ArtifactStore;
  /** Ends the log of an attempt whose runner was lost (the Kafka bus only). */
  logEnds?: LogEndPublisher;
}) {
  const { runner, quota } = ports;
  return {
    /**
     * Launches the runner (idempotent: a second launch of the same runner id does nothing) and
     * waits for it, heartbeating meanwhile so a dead worker is noticed. A retry of this activity
     * after a worker crash relaunches nothing and reattaches to the same runner: nothing runs twice.
     * One activity rather than two saves a workflow round trip on every job.
     */
    async runAttempt(spec: RunnerSpec, options: { leaseMs?: number } = {}): Promise<RunnerOutcome> {
      const ctx = Context.current();
      let progress: RunnerProgress = { phase: 'starting' };
      // The backend reports only on changes; this keeps the worker's liveness visible in between
      // and renews the runner slot. The SDK throttles the actual heartbeat RPCs.
      const intervalMs = Math.max(200, Math.min(5_000, (ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
      const leaseMs = options.leaseMs ?? 60_000;
      const ticker = setInterval(() => {
        ctx.heartbeat(progress);
        // A lost lease (the broker restarted, or this worker stalled past the lease) never stops
        // a running job; its tokens were already returned to the pool.
        quota.renew(spec.runnerId, leaseMs).catch(() => undefined);
      }, intervalMs);
      try {
        return await withFailureCodes(async () => {
          await stageNeededArtifacts(runner, ports.artifacts, spec);
          await runner.start({ ...spec, secretEnv: await resolveSecrets(ports.secrets, spec) });
          const outcome = await runner
            .wait(spec.runnerId, {
              signal: ctx.cancellationSignal,
              onProgress: (p) => {
                progress = p;
                ctx.heartbeat(p);
              },
            })
            .catch(async (err: unknown) => {
              await endLogOfLostRunner(ports.logEnds, spec, err);
              throw err;
            });
          // The workspace is still there: `destroyRunner` comes after this activity.
          await keepArtifacts(runner, ports.artifacts, spec);
          return outcome;
        });
      } finally {
        clearInterval(ticker);
      }
    },

    /** Kills what still runs and removes the workspace; safe after a failed start or twice. */
    async destroyRunner(runnerId: string): Promise<void> {
      return withFailureCodes(async () => {
        await runner.destroy(runnerId);
        await quota.release(runnerId);
      });
    },
  };
}

/** Margin on top of the job timeout for the lifetime of a job credential. */
const CREDENTIAL_MARGIN_MS = 5 * 60_000;

/**
 * Resolves the secrets a job declares with a just-in-time credential that can read exactly those
 * names of that project, once, and revokes it as soon as the values are in hand: the values then
 * live only in the runner's environment (and the masker). Nothing here is returned to the workflow.
 */
async function resolveSecrets(
  secrets: ProjectSecrets,
  spec: RunnerSpec,
): Promise<Record<string, string> | undefined> {
  const names = spec.secrets ?? [];
  if (names.length === 0) return undefined;
  if (!spec.projectId) throw new Error(`job ${spec.jobKey} declares secrets but has no project`);
  const credential = await secrets.issueJobCredential({
    projectId: spec.projectId,
    names,
    ttlMs: spec.timeoutMs + CREDENTIAL_MARGIN_MS,
    uses: 1,
  });
  try {
    return await secrets.resolveWithCredential(credential, spec.projectId, names);
  } finally {
    await secrets.revokeJobCredential(credential.accessor);
  }
}
