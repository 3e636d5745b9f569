import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunnerBackend } from '../../adapters/runner/port.ts';
import { InfrastructureError } from '../../shared/errors.ts';
import { createTestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { eventually, isAlive, printedPids } from '../helpers/processes.ts';

/** Fails `start` for the first `failures` attempts of jobs whose key starts with `flaky`. */
function flakyStarts(failures: number) {
  return (runner: RunnerBackend): RunnerBackend => ({
    name: `flaky(${runner.name})`,
    start: async (spec) => {
      if (spec.jobKey.startsWith('flaky') && spec.attempt <= failures) {
        throw new InfrastructureError(
          'RUNNER_START_FAILED',
          `injected start failure (attempt ${spec.attempt})`,
        );
      }
      return runner.start(spec);
    },
    wait: (id, o) => runner.wait(id, o),
    cancel: (id) => runner.cancel(id),
    destroy: (id) => runner.destroy(id),
  });
}

let kiln: Harness;
beforeAll(async () => {
  kiln = await startHarness({ wrapRunner: flakyStarts(1) });
});
afterAll(async () => kiln?.stop());

describe('build workflow on a real Temporal server', () => {
  it('runs a diamond DAG in dependency order and succeeds', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `
jobs:
  a: { steps: [{ run: 'sleep 0.3; echo a' }] }
  b: { needs: a, steps: [{ run: 'sleep 0.3; echo b' }] }
  c: { needs: a, steps: [{ run: 'sleep 0.3; echo c' }] }
  d: { needs: [b, c], steps: [{ run: 'echo "d sees $KILN_JOB on $KILN_BRANCH"' }] }
`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('succeeded');
    expect(build.commitSha).toBe(repo.sha);
    const job = Object.fromEntries(build.jobs.map((j) => [j.key, j]));
    const t = (iso?: string) => Date.parse(iso ?? '');
    expect(t(job.b!.startedAt)).toBeGreaterThanOrEqual(t(job.a!.finishedAt));
    expect(t(job.c!.startedAt)).toBeGreaterThanOrEqual(t(job.a!.finishedAt));
    expect(t(job.d!.startedAt)).toBeGreaterThanOrEqual(Math.max(t(job.b!.finishedAt), t(job.c!.finishedAt)));
    expect(build.jobs.every((j) => j.attempt === 1 && j.exitCode === 0)).toBe(true);
    const log = await (await kiln.api(`/builds/${id}/jobs/d/logs`)).text();
    expect(log).toContain('d sees d on main');
  });

  it('fails a job on a failing step, skips its dependents and never retries it', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `
jobs:
  build: { steps: [{ name: ok, run: 'true' }, { name: unit tests, run: 'echo boom >&2; exit 3' }, { run: 'echo never' }] }
  deploy: { needs: build, steps: [{ run: 'echo deploy' }] }
  notify: { needs: deploy, steps: [{ run: 'echo notify' }] }
  lint: { steps: [{ run: 'echo lint' }] }
`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('failed');
    const job = Object.fromEntries(build.jobs.map((j) => [j.key, j]));
    expect(job.build).toMatchObject({
      status: 'failed',
      attempt: 1,
      exitCode: 3,
      failureCode: 'STEP_FAILED',
      failedStep: 'unit tests',
    });
    expect(job.deploy!.status).toBe('skipped');
    expect(job.notify!.status).toBe('skipped');
    expect(job.lint!.status).toBe('succeeded');
    const log = await (await kiln.api(`/builds/${id}/jobs/build/logs`)).text();
    expect(log).toContain('boom');
    expect(log).not.toContain('never');
  });

  it('retries an infrastructure failure with a new attempt, then succeeds', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  flaky-job: { steps: [{ run: 'echo attempt $KILN_ATTEMPT' }] }\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('succeeded');
    expect(build.jobs[0]).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(build.jobs[0]!.runnerId).toMatch(/-flaky-job-2$/);
    const log = await (await kiln.api(`/builds/${id}/jobs/flaky-job/logs`)).text();
    expect(log).toContain('attempt 2');
  });

  it('ends a job errored when its infrastructure retries are exhausted', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  flaky-norety: { retries: 0, steps: [{ run: 'true' }] }\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('errored');
    expect(build.jobs[0]).toMatchObject({
      status: 'errored',
      attempt: 1,
      failureCode: 'RUNNER_START_FAILED',
    });
    expect(build.jobs[0]!.message).toContain('retries exhausted');
  });

  it('times a job out and kills its whole process group', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  slow:\n    timeout: 2s\n    steps:\n      - run: 'sleep 300 & echo "pid=$!"; sleep 300'\n  after: { needs: slow, steps: [{ run: 'true' }] }\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('failed');
    expect(build.jobs[0]).toMatchObject({ status: 'timed_out', failureCode: 'JOB_TIMED_OUT', attempt: 1 });
    expect(build.jobs[1]!.status).toBe('skipped');
    const pids = printedPids(await (await kiln.api(`/builds/${id}/jobs/slow/logs`)).text());
    expect(pids.length).toBe(1);
    expect(await eventually(() => !isAlive(pids[0]!))).toBe(true);
  });

  it('cancels a running build: its processes die, running jobs end cancelled, pending ones skipped', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  long: { steps: [{ run: 'sleep 300 & echo "pid=$!"; sleep 300' }] }\n  next: { needs: long, steps: [{ run: 'true' }] }\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    let pids: number[] = [];
    await eventually(async () => {
      const res = await kiln.api(`/builds/${id}/jobs/long/logs`);
      pids = res.status === 200 ? printedPids(await res.text()) : [];
      return pids.length > 0;
    }, 20_000);
    expect(pids.length).toBe(1);
    expect(isAlive(pids[0]!)).toBe(true);

    const res = await kiln.api(`/builds/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(202);
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('cancelled');
    expect(build.jobs.find((j) => j.key === 'long')!.status).toBe('cancelled');
    expect(build.jobs.find((j) => j.key === 'next')!.status).toBe('skipped');
    expect(await eventually(() => !isAlive(pids[0]!))).toBe(true);
  });

  it('ends an invalid pipeline errored with every problem and its position', async () => {
    const repo = createTestRepo({
      '.ci.yaml': `jobs:\n  build:\n    neds: lint\n    steps: [{ run: 'true' }]\n  test:\n    needs: nope\n    steps: [{ run: 'true' }]\n`,
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('errored');
    expect(build.jobs).toEqual([]);
    const formatted = build.problems.map((p) => `${p.file}:${p.line}:${p.col}`);
    expect(formatted).toEqual(['.ci.yaml:3:5', '.ci.yaml:6:12']);
    expect(build.problems[0]!.message).toContain('did you mean "needs"');
    expect(build.problems[1]!.message).toContain('nope');
  });

  it('ends errored when the commit has no pipeline file', async () => {
    const repo = createTestRepo({ 'README.md': 'no pipeline here' });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id);
    expect(build.status).toBe('errored');
    expect(build.problems[0]!.message).toContain('no pipeline file');
  });

  it('answers 404 with a clear message for an unknown build', async () => {
    const res = await kiln.api('/builds/no-such-build');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { code: 'NOT_FOUND', message: 'build "no-such-build" not found' },
    });
  });
});
