/**
 * What step isolation costs at start: `npm run bench:isolation [-- --runs 20 --pause 300]`.
 *
 * Through the local runner backend (warm supervisor pool, the commit already in the mirror), for a
 * one-step job whose step reads the clock: from the call to `start` until the step's own process
 * reads the clock (first step), and until `wait` resolves (outcome), in each isolation mode: none,
 * bubblewrap, gvisor. In the same run, the physical limit: the same `sh -c` spawned directly, under
 * `bwrap` directly and under `runsc run` directly (its bundle written beforehand), from the spawn
 * until the clock read. Modes and limits take turns, so that each sees the same load of the machine;
 * a mode this host cannot run is recorded as skipped, with the reason.
 *
 * Results go to bench/results/isolation-<date>.json and a summary on stdout.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import type { IsolationMode } from '../adapters/runner/local/sandbox.ts';
import { stepShell } from '../adapters/runner/local/sandbox.ts';
import { bubblewrapArgs } from '../adapters/runner/local/sandbox-bwrap.ts';
import { gvisorSpec, runscGlobalArgs } from '../adapters/runner/local/sandbox-gvisor.ts';
import { probeIsolation } from '../adapters/runner/local/sandbox-probe.ts';
import { CLOCK_STEP, clockJobs } from './clock-job.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    pause: { type: 'string', default: '300' },
  },
});
const runs = Number(values.runs);
const pauseMs = Number(values.pause);
const log = (m: string) => console.log(`[bench] ${m}`);
const now = () => performance.timeOrigin + performance.now();

const jobs = await clockJobs('bench-isolation');
const STEP = CLOCK_STEP;

/** The physical limit: spawn → the step's clock read, for the same shell without Kiln around it. */
const direct = join(jobs.root, 'direct');
const directWorkspace = join(direct, 'workspace');
mkdirSync(directWorkspace, { recursive: true });
const directEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', KILN_WORKSPACE: directWorkspace };
const gvisorBundle = join(direct, 'bundle');
const gvisorState = join(direct, 'runsc-state');
mkdirSync(gvisorBundle, { recursive: true });
mkdirSync(gvisorState, { recursive: true });
const sandboxDirs = { workspace: directWorkspace, tmp: directWorkspace, readOnly: [] };
writeFileSync(
  join(gvisorBundle, 'config.json'),
  JSON.stringify(
    gvisorSpec({
      dirs: sandboxDirs,
      hidden: [],
      argv: stepShell(STEP),
      env: directEnv,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    }),
  ),
);
const directCommands: Record<'sh' | 'bwrap' | 'runsc', () => [string, string[]]> = {
  sh: () => ['sh', stepShell(STEP).slice(1)],
  bwrap: () => [
    'bwrap',
    [...bubblewrapArgs(sandboxDirs, [{ path: direct, kind: 'dir' }]), '--', ...stepShell(STEP)],
  ],
  runsc: () => [
    'runsc',
    [...runscGlobalArgs(gvisorState), 'run', '--bundle', gvisorBundle, `kiln-bench-${randomUUID()}`],
  ],
};

async function runDirect(kind: keyof typeof directCommands): Promise<number> {
  const [command, args] = directCommands[kind]();
  const began = now();
  const child = spawn(command, args, { cwd: directWorkspace, env: directEnv, stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', resolve);
  });
  if (code !== 0) throw new Error(`${kind} directly: exit ${code}`);
  return Number(readFileSync(join(directWorkspace, 't0'), 'utf8')) - began;
}

const modes: IsolationMode[] = ['none', 'bubblewrap', 'gvisor'];
const skipped: Record<string, string> = {};
const backends = new Map<IsolationMode, LocalRunnerBackend>();
for (const mode of modes) {
  const probe = await probeIsolation(mode);
  if (!probe.ok) {
    skipped[mode] = probe.reason;
    log(`${mode}: skipped: ${probe.reason}`);
    continue;
  }
  // One runners directory per mode: each backend keeps its own warm pool.
  const runnersDir = join(jobs.root, `runners-${mode}`);
  backends.set(
    mode,
    new LocalRunnerBackend({ ...jobs.dirs, runnersDir, warmSupervisors: 1, isolation: { mode } }),
  );
}
const limits = (['sh', 'bwrap', 'runsc'] as const).filter(
  (kind) => kind === 'sh' || (kind === 'bwrap' ? backends.has('bubblewrap') : backends.has('gvisor')),
);

// Warm-up: the first runner of each backend pays for the compile cache and the pool's first start.
for (const backend of backends.values()) await jobs.run(backend);
for (const kind of limits) await runDirect(kind);

const jobSamples = new Map(
  [...backends.keys()].map((mode) => [mode, { firstStep: [] as number[], outcome: [] as number[] }]),
);
const directSamples = new Map(limits.map((kind) => [kind, [] as number[]]));
for (let i = 0; i < runs; i += 1) {
  for (const [mode, backend] of backends) {
    await new Promise((resolve) => setTimeout(resolve, pauseMs)); // the pool refills meanwhile
    const run = await jobs.run(backend);
    jobSamples.get(mode)!.firstStep.push(run.firstStep);
    jobSamples.get(mode)!.outcome.push(run.outcome);
  }
  for (const kind of limits) directSamples.get(kind)!.push(await runDirect(kind));
}
await Promise.all([...backends.values()].map((backend) => backend.close()));

const results = {
  benchmark: 'isolation',
  date: new Date().toISOString(),
  node: process.version,
  setup: {
    runs,
    pauseMs,
    step: STEP,
    job: 'one step, warm supervisor pool, commit already in the mirror',
    firstStep: 'start() called → the step process reads the clock (ms)',
    outcome: 'start() called → wait() resolved (ms)',
    physicalLimit: 'spawn → the same shell reads the clock: sh directly, under bwrap, under runsc run',
  },
  skipped,
  jobs: Object.fromEntries(
    [...jobSamples].map(([mode, s]) => [
      mode,
      { firstStep: summarise(s.firstStep), outcome: summarise(s.outcome) },
    ]),
  ),
  physicalLimit: Object.fromEntries([...directSamples].map(([kind, s]) => [kind, summarise(s)])),
};
for (const [mode, r] of Object.entries(results.jobs)) {
  log(
    `${mode.padEnd(10)} first step p50 ${r.firstStep.p50} ms p95 ${r.firstStep.p95} ms; outcome p50 ${r.outcome.p50} ms`,
  );
}
for (const [kind, r] of Object.entries(results.physicalLimit)) {
  log(`${kind.padEnd(10)} directly p50 ${r.p50} ms p95 ${r.p95} ms`);
}
const out = join(import.meta.dirname, 'results');
mkdirSync(out, { recursive: true });
const file = join(out, `isolation-${results.date.slice(0, 10)}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
log(`results written to ${file}`);
await jobs.cleanup();
