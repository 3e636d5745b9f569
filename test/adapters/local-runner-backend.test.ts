import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLogStore } from '../../adapters/logs/file-logs.ts';
import { LocalRunnerBackend } from '../../adapters/runner/local/local-runner-backend.ts';
import type { RunnerState } from '../../adapters/runner/local/state.ts';
import type { RunnerProgress, RunnerSpec } from '../../adapters/runner/port.ts';
import { InfrastructureError, KilnError, NotFoundError } from '../../shared/errors.ts';
import { createOriginRepo, groupMembers, isRunning, tempDir, until, type OriginRepo } from './fixtures.ts';

// The whole contract, with runners handed to warm supervisors of the pool and with every
// supervisor started cold.
describe.each([{ warmSupervisors: 1 }, { warmSupervisors: 0 }])('LocalRunnerBackend %o', (pool) => {
  const tmp = tempDir('runner');
  const dirs = {
    runnersDir: join(tmp.path, 'runners'),
    mirrorsDir: join(tmp.path, 'mirrors'),
    logsDir: join(tmp.path, 'logs'),
    ...pool,
  };
  const backend = new LocalRunnerBackend(dirs);
  const logs = new FileLogStore({ logsDir: dirs.logsDir });
  const started: string[] = [];
  let origin: OriginRepo;
  let sha: string;
  let counter = 0;

  beforeAll(() => {
    origin = createOriginRepo(tmp.path);
    sha = origin.commit({ 'hello.txt': 'hello from the repo\n' }, 'initial');
  });
  afterAll(async () => {
    await Promise.all(started.map((id) => backend.destroy(id)));
    await backend.close();
    tmp.cleanup();
  });

  /** A spec with a fresh runner id; steps given as `[name, run]` pairs. */
  const makeSpec = (steps: [string, string][], overrides: Partial<RunnerSpec> = {}): RunnerSpec => {
    counter += 1;
    const jobKey = `job-${counter}`;
    const runnerId = `build-1-${jobKey}-1`;
    started.push(runnerId);
    return {
      runnerId,
      buildId: 'build-1',
      jobKey,
      attempt: 1,
      checkout: { cloneUrl: origin.url, sha, ref: 'refs/heads/main', branch: 'main' },
      steps: steps.map(([name, run]) => ({ name, run, env: {} })),
      env: {},
      timeoutMs: 30_000,
      ...overrides,
    };
  };
  const runnerDir = (spec: RunnerSpec) => join(dirs.runnersDir, spec.runnerId);
  const state = (spec: RunnerSpec) =>
    JSON.parse(readFileSync(join(runnerDir(spec), 'state.json'), 'utf8')) as RunnerState;
  const logText = async (spec: RunnerSpec) => {
    const out: string[] = [];
    for await (const line of logs.read(spec.buildId, spec.jobKey, spec.attempt)) {
      out.push(`${line.stream}: ${line.text}`);
    }
    return out;
  };
  const workspaceFile = (spec: RunnerSpec, name: string) => join(runnerDir(spec), 'workspace', name);
  const pidIn = (path: string) => Number(readFileSync(path, 'utf8').trim());
  /** True once a step wrote a pid to `path` (which exists, empty, for a moment before). */
  const hasPid = (path: string) => existsSync(path) && pidIn(path) > 0;

  it('runs the steps in a checkout and logs both streams with the Kiln environment', async () => {
    const spec = makeSpec([
      ['greet', 'echo "ci=$CI job=$KILN_JOB attempt=$KILN_ATTEMPT foo=$FOO"; cat hello.txt'],
      ['inspect', 'echo "to stderr" >&2; echo "branch=$KILN_BRANCH sha=$KILN_COMMIT_SHA step=$STEP_VAR"'],
    ]);
    spec.env = { FOO: 'bar' };
    spec.steps[1]!.env = { STEP_VAR: 'only-here' };
    const progress: RunnerProgress[] = [];
    await backend.start(spec);
    const outcome = await backend.wait(spec.runnerId, { onProgress: (p) => progress.push(p) });
    expect(outcome).toEqual({ status: 'succeeded', exitCode: 0 });

    const lines = await logText(spec);
    expect(lines).toContain('system: ▶ step: greet');
    expect(lines).toContain(`stdout: ci=true job=${spec.jobKey} attempt=1 foo=bar`);
    expect(lines).toContain('stdout: hello from the repo');
    expect(lines).toContain('system: ▶ step: inspect');
    expect(lines).toContain('stderr: to stderr');
    expect(lines).toContain(`stdout: branch=main sha=${sha} step=only-here`);
    expect(lines.filter((l) => /^system: ✔ exit 0 in \d+\.\ds$/.test(l))).toHaveLength(2);

    const seqs: number[] = [];
    for await (const line of logs.read(spec.buildId, spec.jobKey, 1)) seqs.push(line.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(progress.at(-1)).toEqual({ phase: 'running', step: 'inspect' });
  });

  it('sets KILN_TAG for a tag ref', async () => {
    const spec = makeSpec([['tag', 'echo "tag=$KILN_TAG ref=$KILN_REF"']]);
    spec.checkout = { cloneUrl: origin.url, sha, ref: 'refs/tags/v2.1' };
    await backend.start(spec);
    expect(await backend.wait(spec.runnerId, {})).toMatchObject({ status: 'succeeded' });
    expect(await logText(spec)).toContain('stdout: tag=v2.1 ref=refs/tags/v2.1');
  });

  it('stops at the first failing step', async () => {
    const spec = makeSpec([
      ['first', 'echo fine'],
      ['second', 'echo "about to fail"; exit 3; echo unreachable'],
      ['third', 'touch third-ran'],
    ]);
    await backend.start(spec);
    const outcome = await backend.wait(spec.runnerId, {});
    expect(outcome).toEqual({ status: 'failed', exitCode: 3, failedStep: 'second' });
    expect(existsSync(workspaceFile(spec, 'third-ran'))).toBe(false);
    const lines = await logText(spec);
    expect(lines).toContain('stdout: about to fail');
    expect(lines.filter((l) => /^system: ✖ exit 3 in \d+\.\ds$/.test(l))).toHaveLength(1);
    expect(lines).not.toContain('stdout: unreachable');
    expect(lines).not.toContain('system: ▶ step: third');
  });

  it('times out the job and leaves no process of it alive', async () => {
    const spec = makeSpec([['hang', 'sleep 1000 & echo $! > bg.pid; sleep 1000']], { timeoutMs: 800 });
    await backend.start(spec);
    const outcome = await backend.wait(spec.runnerId, {});
    expect(outcome).toEqual({ status: 'timed_out', failedStep: 'hang' });
    const { pid, pgids } = state(spec);
    expect(pgids).toHaveLength(1);
    expect(isRunning(pidIn(workspaceFile(spec, 'bg.pid')))).toBe(false);
    expect(groupMembers(pgids![0]!)).toEqual([]);
    await until(() => !isRunning(pid), 2_000);
    expect((await logText(spec)).some((l) => l.startsWith('system: ✖ timed out after'))).toBe(true);
  });

  it('cancel kills the whole process group of the step, and wait reports CANCELLED', async () => {
    const spec = makeSpec([['serve', 'sleep 1000 & echo $! > bg.pid; echo $$ > sh.pid; sleep 1000']]);
    await backend.start(spec);
    const waiting = backend.wait(spec.runnerId, {}).catch((e: unknown) => e);
    await until(() => hasPid(workspaceFile(spec, 'sh.pid')) && hasPid(workspaceFile(spec, 'bg.pid')));
    const shell = pidIn(workspaceFile(spec, 'sh.pid'));
    const pids = [pidIn(workspaceFile(spec, 'bg.pid')), shell, state(spec).pid];
    expect(pids.every(isRunning)).toBe(true);
    await until(() => groupMembers(shell).length === 3); // sh, and both sleeps (once sh forked the last)

    const began = Date.now();
    await backend.cancel(spec.runnerId);
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(pids.filter(isRunning)).toEqual([]);
    expect(groupMembers(shell)).toEqual([]);
    const err = await waiting;
    expect(err).toBeInstanceOf(KilnError);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(state(spec)).toMatchObject({ phase: 'finished', cancelled: true });
    await backend.cancel(spec.runnerId); // a finished runner: nothing to do
  });

  it('starts a runner id once, however often and from however many instances', async () => {
    const counterFile = join(tmp.path, 'executions.txt');
    const spec = makeSpec([['count', `echo run >> "${counterFile}"`]]);
    const other = new LocalRunnerBackend(dirs);
    await Promise.all([backend.start(spec), other.start(spec), backend.start(spec)]);
    expect(await backend.wait(spec.runnerId, {})).toMatchObject({ status: 'succeeded' });
    await other.start(spec);
    expect(await other.wait(spec.runnerId, {})).toMatchObject({ status: 'succeeded' });
    expect(readFileSync(counterFile, 'utf8')).toBe('run\n');
  });

  it('reports RUNNER_LOST when the supervisor dies mid-run', async () => {
    const spec = makeSpec([['long', 'echo $$ > sh.pid; sleep 1000']]);
    await backend.start(spec);
    // Mid-run: once the step's process group is on record (the step may start just before).
    await until(() => hasPid(workspaceFile(spec, 'sh.pid')) && state(spec).phase === 'running');
    const began = Date.now();
    process.kill(state(spec).pid, 'SIGKILL');
    const err = await backend.wait(spec.runnerId, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect(err).toMatchObject({ code: 'RUNNER_LOST' });
    expect(Date.now() - began).toBeLessThan(3_000);

    // The orphaned step is still killable from the recorded process group.
    const shell = pidIn(workspaceFile(spec, 'sh.pid'));
    expect(isRunning(shell)).toBe(true);
    await backend.destroy(spec.runnerId);
    expect(isRunning(shell)).toBe(false);
  });

  it('reports RUNNER_LOST when the heartbeat goes stale', async () => {
    const stale = new LocalRunnerBackend({ ...dirs, heartbeatStaleMs: 3_000 });
    const spec = makeSpec([['long', 'echo started > started; sleep 1000']]);
    await stale.start(spec);
    await until(() => existsSync(workspaceFile(spec, 'started')));
    const { pid } = state(spec);
    process.kill(pid, 'SIGSTOP'); // alive, yet silent
    try {
      await expect(stale.wait(spec.runnerId, {})).rejects.toMatchObject({
        code: 'RUNNER_LOST',
        message: expect.stringContaining('heartbeat') as unknown,
      });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await stale.destroy(spec.runnerId);
  });

  it('lets a new backend instance (a restarted worker) reattach to a running job', async () => {
    const spec = makeSpec([['slow', 'sleep 0.5; echo done']]);
    await backend.start(spec);
    const restarted = new LocalRunnerBackend(dirs);
    expect(await restarted.wait(spec.runnerId, {})).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(await new LocalRunnerBackend(dirs).wait(spec.runnerId, {})).toEqual({
      status: 'succeeded',
      exitCode: 0,
    });
    expect(await logText(spec)).toContain('stdout: done');
  });

  it('stops waiting promptly when the signal aborts', async () => {
    const spec = makeSpec([['long', 'sleep 1000']]);
    await backend.start(spec);
    const controller = new AbortController();
    const reason = new Error('activity cancelled');
    setTimeout(() => controller.abort(reason), 200);
    const began = Date.now();
    await expect(backend.wait(spec.runnerId, { signal: controller.signal })).rejects.toBe(reason);
    expect(Date.now() - began).toBeLessThan(1_000);
    await backend.cancel(spec.runnerId);
  });

  it('reports CHECKOUT_FAILED for a commit the repository does not have', async () => {
    const spec = makeSpec([['never', 'touch ran']]);
    spec.checkout = { ...spec.checkout, sha: 'deadbeef'.repeat(5) };
    await backend.start(spec);
    const err = await backend.wait(spec.runnerId, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect(err).toMatchObject({ code: 'CHECKOUT_FAILED' });
    expect((err as Error).message).toContain(origin.url);
  });

  it('destroy removes the runner and its workspace, keeps the logs, and is safe to repeat', async () => {
    const spec = makeSpec([['write', 'echo output; touch made-by-job']]);
    await backend.start(spec);
    await backend.wait(spec.runnerId, {});
    expect(existsSync(workspaceFile(spec, 'made-by-job'))).toBe(true);
    await backend.destroy(spec.runnerId);
    expect(existsSync(runnerDir(spec))).toBe(false);
    await backend.destroy(spec.runnerId);
    await backend.destroy('never-started');
    await backend.cancel('never-started');
    expect(await logText(spec)).toContain('stdout: output');
  });

  it('rejects waiting on a runner that was never started', async () => {
    await expect(backend.wait('never-started', {})).rejects.toBeInstanceOf(NotFoundError);
  });
});
