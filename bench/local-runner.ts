/**
 * Latency of the local runner backend alone: `node bench/local-runner.ts [--runs 30] [--pause 300]`.
 *
 * For a one-step job running `date`, measures from the call to `start` until the step's own
 * process reads the clock (first step), and until `wait` resolves (outcome), for:
 * - cold: the very first runner of a fresh data directory (no compile cache yet), pool disabled;
 * - spawn: every runner spawns its supervisor (`warmSupervisors: 0`), compile cache filled;
 * - warm: every runner is handed to a ready supervisor of the pool (`warmSupervisors: 1`), the
 *   pool refilled during the pause before the job;
 * - back-to-back: the same pool, each job started as soon as the previous one ended, so usually
 *   handed to the supervisor the previous start added to the pool, still loading.
 * The modes take turns, job by job, so that each sees the same load of the machine.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import type { RunnerSpec } from '../adapters/runner/port.ts';
import { GitVcs } from '../adapters/vcs/git-vcs.ts';
import { tempDir } from '../test/adapters/fixtures.ts';
import { createTestRepo } from '../test/helpers/git-repo.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    pause: { type: 'string', default: '300' },
  },
});
const runs = Number(values.runs);
const pauseMs = Number(values.pause);

const repo = createTestRepo({ 'README.md': 'bench\n' });
const tmp = tempDir('bench-runner');
const dirs = {
  runnersDir: join(tmp.path, 'runners'),
  mirrorsDir: join(tmp.path, 'mirrors'),
  logsDir: join(tmp.path, 'logs'),
};
let counter = 0;

async function runOne(backend: LocalRunnerBackend): Promise<{ firstStep: number; outcome: number }> {
  counter += 1;
  const spec: RunnerSpec = {
    runnerId: `bench-${counter}`,
    buildId: 'bench',
    jobKey: `job-${counter}`,
    attempt: 1,
    checkout: { cloneUrl: repo.url, sha: repo.sha, ref: 'refs/heads/main', branch: 'main' },
    steps: [{ name: 'clock', run: 'date +%s%3N > "$KILN_WORKSPACE/../t0"', env: {} }],
    env: {},
    timeoutMs: 30_000,
  };
  const began = performance.timeOrigin + performance.now();
  await backend.start(spec);
  const outcome = await backend.wait(spec.runnerId, {});
  const ended = performance.timeOrigin + performance.now();
  if (outcome.status !== 'succeeded') throw new Error(`bench job ${spec.runnerId}: ${outcome.status}`);
  const stepAt = Number(readFileSync(join(backend.runnerDir(spec.runnerId), 't0'), 'utf8'));
  await backend.destroy(spec.runnerId);
  return { firstStep: stepAt - began, outcome: ended - began };
}

/** Measures each mode in turn, round after round, so that every mode sees the same machine load. */
async function interleaved(modes: { name: string; backend: LocalRunnerBackend; pause: number }[]) {
  const samples = modes.map(() => ({ firstStep: [] as number[], outcome: [] as number[] }));
  for (let i = 0; i < runs; i += 1) {
    for (const [index, mode] of modes.entries()) {
      if (mode.pause > 0) await new Promise((resolve) => setTimeout(resolve, mode.pause));
      const run = await runOne(mode.backend);
      samples[index]!.firstStep.push(run.firstStep);
      samples[index]!.outcome.push(run.outcome);
    }
  }
  return modes.map((mode, index) => ({
    name: mode.name,
    firstStep: summarise(samples[index]!.firstStep),
    outcome: summarise(samples[index]!.outcome),
  }));
}

// The orchestrator has fetched the commit into the mirror before any job of the build starts.
await new GitVcs({ mirrorsDir: dirs.mirrorsDir }).resolve(repo.url, repo.sha);
const spawning = new LocalRunnerBackend({ ...dirs, warmSupervisors: 0 });
const cold = await runOne(spawning);
const pooled = new LocalRunnerBackend({ ...dirs, warmSupervisors: 1 });
const results: Record<string, unknown>[] = [
  { name: 'cold (first runner, no compile cache)', firstStep: cold.firstStep, outcome: cold.outcome },
  ...(await interleaved([
    { name: 'spawn (warmSupervisors: 0)', backend: spawning, pause: pauseMs },
    { name: 'warm (warmSupervisors: 1)', backend: pooled, pause: pauseMs },
    { name: 'warm, back-to-back', backend: pooled, pause: 0 },
  ])),
];
await pooled.close();

console.log(JSON.stringify(results, null, 2));
await rm(repo.path, { recursive: true, force: true });
tmp.cleanup();
