/**
 * The one-step job both local-runner benchmarks time: its step's own process reads the clock into
 * the workspace (inside it, so a sandboxed step can write it too), on a repository whose commit is
 * already in the mirror, as the orchestrator leaves it before a build's first job.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import type { RunnerSpec } from '../adapters/runner/port.ts';
import { GitVcs } from '../adapters/vcs/git-vcs.ts';
import { tempDir } from '../test/adapters/fixtures.ts';
import { createTestRepo } from '../test/helpers/git-repo.ts';

/** The step of every measurement: its own process writes the clock (ms) to `$KILN_WORKSPACE/t0`. */
export const CLOCK_STEP = 'date +%s%3N > "$KILN_WORKSPACE/t0"';

export interface ClockJobs {
  /** Scratch directory of the benchmark, removed by `cleanup`. */
  root: string;
  /** Directories for a `LocalRunnerBackend` (the mirror already holds the commit). */
  dirs: { runnersDir: string; mirrorsDir: string; logsDir: string };
  /** Runs one clock job: ms from `start` to the step's clock read, and to the outcome. */
  run(backend: LocalRunnerBackend): Promise<{ firstStep: number; outcome: number }>;
  cleanup(): Promise<void>;
}

export async function clockJobs(name: string): Promise<ClockJobs> {
  const repo = createTestRepo({ 'README.md': 'bench\n' });
  const tmp = tempDir(name);
  const dirs = {
    runnersDir: join(tmp.path, 'runners'),
    mirrorsDir: join(tmp.path, 'mirrors'),
    logsDir: join(tmp.path, 'logs'),
  };
  await new GitVcs({ mirrorsDir: dirs.mirrorsDir }).resolve(repo.url, repo.sha);
  const now = () => performance.timeOrigin + performance.now();
  let counter = 0;
  return {
    root: tmp.path,
    dirs,
    async run(backend) {
      counter += 1;
      const spec: RunnerSpec = {
        runnerId: `bench-${counter}`,
        buildId: 'bench',
        jobKey: `job-${counter}`,
        attempt: 1,
        checkout: { cloneUrl: repo.url, sha: repo.sha, ref: 'refs/heads/main', branch: 'main' },
        steps: [{ name: 'clock', run: CLOCK_STEP, env: {} }],
        env: {},
        timeoutMs: 30_000,
      };
      const began = now();
      await backend.start(spec);
      const outcome = await backend.wait(spec.runnerId, {});
      const ended = now();
      if (outcome.status !== 'succeeded') throw new Error(`bench job ${spec.runnerId}: ${outcome.status}`);
      const stepAt = Number(readFileSync(join(backend.runnerDir(spec.runnerId), 'workspace', 't0'), 'utf8'));
      await backend.destroy(spec.runnerId);
      return { firstStep: stepAt - began, outcome: ended - began };
    },
    async cleanup() {
      await rm(repo.path, { recursive: true, force: true });
      tmp.cleanup();
    },
  };
}
