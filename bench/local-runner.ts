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
import { parseArgs } from 'node:util';
import { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import { clockJobs } from './clock-job.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '30' },
    pause: { type: 'string', default: '300' },
  },
});
const runs = Number(values.runs);
const pauseMs = Number(values.pause);

const jobs = await clockJobs('bench-runner');

/** Measures each mode in turn, round after round, so that every mode sees the same machine load. */
async function interleaved(modes: { name: string; backend: LocalRunnerBackend; pause: number }[]) {
  const samples = modes.map(() => ({ firstStep: [] as number[], outcome: [] as number[] }));
  for (let i = 0; i < runs; i += 1) {
    for (const [index, mode] of modes.entries()) {
      if (mode.pause > 0) await new Promise((resolve) => setTimeout(resolve, mode.pause));
      const run = await jobs.run(mode.backend);
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

const spawning = new LocalRunnerBackend({ ...jobs.dirs, warmSupervisors: 0 });
const cold = await jobs.run(spawning);
const pooled = new LocalRunnerBackend({ ...jobs.dirs, warmSupervisors: 1 });
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
await jobs.cleanup();
