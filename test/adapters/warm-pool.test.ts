import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLogStore } from '../../adapters/logs/file-logs.ts';
import {
  LocalRunnerBackend,
  type LocalRunnerBackendOptions,
} from '../../adapters/runner/local/local-runner-backend.ts';
import type { RunnerState } from '../../adapters/runner/local/state.ts';
import type { RunnerSpec } from '../../adapters/runner/port.ts';
import { createOriginRepo, groupMembers, isRunning, tempDir, until, type OriginRepo } from './fixtures.ts';

/** One entry of the pool as the tests see it: `pid` and `ready` are files of the entry. */
interface Entry {
  name: string;
  pid: number;
  ready: boolean;
  claimed: boolean;
}

describe('LocalRunnerBackend warm supervisor pool', () => {
  const tmp = tempDir('warm-pool');
  const logs = new FileLogStore({ logsDir: join(tmp.path, 'logs') });
  const backends: LocalRunnerBackend[] = [];
  let origin: OriginRepo;
  let sha: string;
  let counter = 0;

  beforeAll(() => {
    origin = createOriginRepo(tmp.path);
    sha = origin.commit({ 'hello.txt': 'hello from the repo\n' }, 'initial');
  });
  afterAll(async () => {
    await Promise.all(backends.map((backend) => backend.close()));
    tmp.cleanup();
  });

  /** A backend on its own runners directory (so its own pool), logs and mirrors shared. */
  const newBackend = (
    options: Partial<LocalRunnerBackendOptions> = {},
    runnersDir = `runners-${++counter}`,
  ) => {
    const backend = new LocalRunnerBackend({
      runnersDir: join(tmp.path, runnersDir),
      mirrorsDir: join(tmp.path, 'mirrors'),
      logsDir: join(tmp.path, 'logs'),
      ...options,
    });
    backends.push(backend);
    return backend;
  };
  const poolDir = (backend: LocalRunnerBackend) => join(backend.runnerDir('any'), '..', '.pool');
  const entries = (backend: LocalRunnerBackend): Entry[] => {
    const dir = poolDir(backend);
    if (!existsSync(dir)) return [];
    return readdirSync(dir).flatMap((name) => {
      try {
        const pid = Number(readFileSync(join(dir, name, 'pid'), 'utf8'));
        const ready = existsSync(join(dir, name, 'ready'));
        return [{ name, pid, ready, claimed: existsSync(join(dir, name, 'claim')) }];
      } catch {
        return []; // no pid yet, or removed meanwhile
      }
    });
  };
  /** Waits until the pool holds a ready, unclaimed supervisor other than `except`; returns it. */
  const readyEntry = async (backend: LocalRunnerBackend, except?: number): Promise<Entry> => {
    let found: Entry | undefined;
    await until(() => {
      found = entries(backend).find((e) => e.ready && !e.claimed && e.pid !== except && isRunning(e.pid));
      return found !== undefined;
    });
    return found!;
  };
  const makeSpec = (steps: [string, string][]): RunnerSpec => {
    counter += 1;
    return {
      runnerId: `build-2-job-${counter}-1`,
      buildId: 'build-2',
      jobKey: `job-${counter}`,
      attempt: 1,
      checkout: { cloneUrl: origin.url, sha, ref: 'refs/heads/main', branch: 'main' },
      steps: steps.map(([name, run]) => ({ name, run, env: {} })),
      env: {},
      timeoutMs: 30_000,
    };
  };
  const state = (backend: LocalRunnerBackend, spec: RunnerSpec) =>
    JSON.parse(readFileSync(join(backend.runnerDir(spec.runnerId), 'state.json'), 'utf8')) as RunnerState;
  const logText = async (spec: RunnerSpec) => {
    const out: string[] = [];
    for await (const line of logs.read(spec.buildId, spec.jobKey, spec.attempt)) {
      out.push(`${line.stream}: ${line.text}`);
    }
    return out;
  };

  it('hands a job to a warm supervisor, which runs and logs it as a cold one would', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    const spec = makeSpec([['greet', 'echo "job=$KILN_JOB"; cat hello.txt; pwd']]);
    await backend.start(spec);
    expect(await backend.wait(spec.runnerId, {})).toEqual({ status: 'succeeded', exitCode: 0 });

    const dir = backend.runnerDir(spec.runnerId);
    expect(state(backend, spec)).toMatchObject({ phase: 'finished', pid: warm.pid });
    expect(Number(readFileSync(join(dir, 'supervisor.pid'), 'utf8'))).toBe(warm.pid);
    expect(existsSync(join(dir, 'supervisor.log'))).toBe(true);
    const lines = await logText(spec);
    expect(lines).toContain(`stdout: job=${spec.jobKey}`);
    expect(lines).toContain('stdout: hello from the repo');
    expect(lines).toContain(`stdout: ${join(dir, 'workspace')}`);
    await until(() => !isRunning(warm.pid));
    expect(entries(backend).map((e) => e.name)).not.toContain(warm.name);
  });

  it('refills the pool in the background after a claim', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    const spec = makeSpec([['quick', 'true']]);
    await backend.start(spec);
    const next = await readyEntry(backend, warm.pid);
    expect(next.pid).not.toBe(warm.pid);
    expect(await backend.wait(spec.runnerId, {})).toMatchObject({ status: 'succeeded' });
    expect(state(backend, spec).pid).toBe(warm.pid);
  });

  it('runs two concurrent starts exactly once each with one warm supervisor: one warm, one cold', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    const counterFile = join(tmp.path, 'concurrent-executions.txt');
    const specs = [
      makeSpec([['a', `echo a >> "${counterFile}"`]]),
      makeSpec([['b', `echo b >> "${counterFile}"`]]),
    ];
    await Promise.all([...specs, ...specs].map((spec) => backend.start(spec)));
    for (const spec of specs) {
      expect(await backend.wait(spec.runnerId, {})).toMatchObject({ status: 'succeeded' });
    }
    expect(readFileSync(counterFile, 'utf8').split('\n').sort()).toEqual(['', 'a', 'b']);
    const pids = specs.map((spec) => state(backend, spec).pid);
    expect(pids.filter((pid) => pid === warm.pid)).toHaveLength(1);
    expect(new Set(pids).size).toBe(2);
  });

  it('lets another backend instance on the same directory claim from the pool and reattach', async () => {
    const first = newBackend({}, 'shared-runners');
    const warm = await readyEntry(first);
    const second = newBackend({}, 'shared-runners');
    const spec = makeSpec([['slow', 'sleep 0.3; echo done']]);
    await second.start(spec);
    expect(await first.wait(spec.runnerId, {})).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(state(first, spec).pid).toBe(warm.pid);
    // Both keep one pool between them, not one each.
    await until(() => entries(first).filter((e) => isRunning(e.pid) && !e.claimed).length >= 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(entries(first).filter((e) => isRunning(e.pid) && !e.claimed)).toHaveLength(1);
  });

  it('cancel and destroy work on a runner of a warm supervisor', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    const spec = makeSpec([['serve', 'sleep 1000 & echo $$ > sh.pid; sleep 1000']]);
    await backend.start(spec);
    const waiting = backend.wait(spec.runnerId, {}).catch((e: unknown) => e);
    const shPid = join(backend.runnerDir(spec.runnerId), 'workspace', 'sh.pid');
    await until(() => existsSync(shPid) && readFileSync(shPid, 'utf8').trim() !== '');
    const shell = Number(readFileSync(shPid, 'utf8'));
    await until(() => groupMembers(shell).length === 3); // sh, and both sleeps

    await backend.cancel(spec.runnerId);
    expect(await waiting).toMatchObject({ code: 'CANCELLED' });
    expect(groupMembers(shell)).toEqual([]);
    expect(isRunning(warm.pid)).toBe(false);
    await backend.destroy(spec.runnerId);
    expect(existsSync(backend.runnerDir(spec.runnerId))).toBe(false);
  });

  it('reports RUNNER_LOST when a warm supervisor dies mid-run', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    const spec = makeSpec([['long', 'echo started > started; sleep 1000']]);
    await backend.start(spec);
    await until(() => existsSync(join(backend.runnerDir(spec.runnerId), 'workspace', 'started')));
    process.kill(warm.pid, 'SIGKILL');
    await expect(backend.wait(spec.runnerId, {})).rejects.toMatchObject({ code: 'RUNNER_LOST' });
    await backend.destroy(spec.runnerId);
  });

  it('an idle warm supervisor exits when its pool directory is removed', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    rmSync(poolDir(backend), { recursive: true, force: true });
    await until(() => !isRunning(warm.pid), 5_000);
  });

  it('close retires the idle supervisors the backend started', async () => {
    const backend = newBackend();
    const warm = await readyEntry(backend);
    await backend.close();
    await until(() => !isRunning(warm.pid), 5_000);
    expect(existsSync(join(poolDir(backend), warm.name))).toBe(false);
    const spec = makeSpec([['after', 'echo still works']]);
    await backend.start(spec); // cold, and no refill
    expect(await backend.wait(spec.runnerId, {})).toMatchObject({ status: 'succeeded' });
    expect(entries(backend)).toEqual([]);
  });

  it('an idle warm supervisor exits by itself after its idle limit, and is no runner', async () => {
    const backend = newBackend({ warmIdleMs: 500 });
    const warm = await readyEntry(backend);
    expect(readdirSync(join(poolDir(backend), '..')).filter((n) => !n.startsWith('.'))).toEqual([]);
    await until(() => !isRunning(warm.pid), 5_000);
    expect(existsSync(join(poolDir(backend), warm.name))).toBe(false);
  });

  it('removes stale entries left by a previous worker whose supervisor died', async () => {
    const runners = `runners-stale-${++counter}`;
    const dead = spawnSync('true').pid!;
    const stale = join(tmp.path, runners, '.pool', 'left-over');
    mkdirSync(stale, { recursive: true });
    writeFileSync(join(stale, 'pid'), String(dead));
    writeFileSync(join(stale, 'ready'), String(dead));
    const backend = newBackend({}, runners);
    const warm = await readyEntry(backend);
    expect(warm.name).not.toBe('left-over');
    await until(() => !existsSync(stale));
  });

  it('works with the pool disabled, and starts no idle supervisor', async () => {
    const backend = newBackend({ warmSupervisors: 0 });
    const spec = makeSpec([['hello', 'echo cold']]);
    await backend.start(spec);
    expect(await backend.wait(spec.runnerId, {})).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(await logText(spec)).toContain('stdout: cold');
    expect(existsSync(poolDir(backend))).toBe(false);
  });
});
