import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { eventually } from '../helpers/processes.ts';

let kiln: Harness;
const children: ChildProcess[] = [];

beforeAll(async () => {
  kiln = await startHarness({ noWorkers: true });
});
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await kiln?.stop();
});

/** Starts `workers/worker.ts` as its own process and resolves once it polls its task queues. */
async function startWorkerProcess(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['workers/worker.ts', '--role', 'all'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      KILN_TEMPORAL_ADDRESS: kiln.address,
      KILN_TEMPORAL_NAMESPACE: kiln.namespace,
      KILN_ORCHESTRATOR_TASK_QUEUE: kiln.taskQueues.orchestrator,
      KILN_RUNNER_TASK_QUEUE: kiln.taskQueues.runner,
      KILN_DATA_DIR: kiln.dataDir,
      KILN_LOG_LEVEL: 'warn',
      // The job appends to a marker file in the data directory, which sandboxed steps cannot see.
      KILN_RUNNER_ISOLATION: 'none',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
  });
  return child;
}

describe('durability', () => {
  it('completes a build whose worker was killed mid-job, without running the job twice', async () => {
    const markerDir = kiln.dataDir;
    const marker = join(markerDir, 'runs.txt');
    const repo = createTestRepo({
      '.ci.yaml': `
jobs:
  long:
    steps:
      - run: 'echo "start $KILN_ATTEMPT" >> ${marker}; sleep 4; echo "end $KILN_ATTEMPT" >> ${marker}'
  after: { needs: long, steps: [{ run: 'echo after' }] }
`,
    });
    const first = await startWorkerProcess();
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    expect(
      await eventually(() => existsSync(marker) && readFileSync(marker, 'utf8').includes('start'), 30_000),
    ).toBe(true);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));

    await startWorkerProcess();
    const build = await kiln.waitFor(id, undefined, 90_000);
    expect(build.status).toBe('succeeded');
    expect(build.jobs.map((j) => [j.key, j.status, j.attempt])).toEqual([
      ['long', 'succeeded', 1],
      ['after', 'succeeded', 1],
    ]);
    expect(readFileSync(marker, 'utf8').trim().split('\n')).toEqual(['start 1', 'end 1']);
  }, 120_000);
});
