import { watch, type FSWatcher } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import {
  FailureCodes,
  InfrastructureError,
  InvalidInputError,
  isInfrastructureCode,
  KilnError,
  NotFoundError,
  type FailureCode,
} from '../../../shared/errors.ts';
import { reportChangesOnly } from '../progress.ts';
import type { RunnerBackend, RunnerOutcome, RunnerProgress, RunnerSpec } from '../port.ts';
import { isProcessAlive, signalProcess, terminateGroups, waitUntil } from './processes.ts';
import {
  readPid,
  readState,
  runnerFiles,
  writeFileAtomic,
  writeState,
  type LogDestination,
  type RunnerState,
} from './state.ts';
import {
  hostPrivatePaths,
  writeSandboxSettings,
  type IsolationMode,
  type RunnerNetwork,
  type SandboxSettings,
} from './sandbox.ts';
import { spawnSupervisor } from './supervisor-process.ts';
import { WarmPool } from './warm-pool.ts';
import { adoptStagedInputs, LocalWorkspaceFiles, removeStagedInputs } from './workspace-files.ts';

/** Safety net next to `fs.watch`, which may miss events on some file systems. */
const FALLBACK_CHECK_MS = 1_000;
/** How long `cancel` lets the supervisor stop its step (it waits 5 s before SIGKILL) and report. */
const SUPERVISOR_STOP_MS = 8_000;
const GROUP_KILL_GRACE_MS = 1_000;

/** Options of {@link LocalRunnerBackend}. */
export interface LocalRunnerBackendOptions {
  /** One directory per runner: spec, state, supervisor log and the workspace. */
  runnersDir: string;
  /**
   * Git mirrors shared with every other Kiln component on this machine (see `GitVcs`). The
   * supervisor process checks out from them with its own `GitVcs`.
   */
  mirrorsDir: string;
  /** Where the supervisors write the job logs in `file` mode (read them with `FileLogStore`). */
  logsDir: string;
  /**
   * Where the supervisors send the job logs: NDJSON files under `logsDir`, or Kafka.
   * @default { kind: 'file' }
   */
  logDestination?: LogDestination;
  /**
   * A runner whose supervisor has not written its state for this long is lost.
   * @default 15_000
   */
  heartbeatStaleMs?: number;
  /**
   * Idle supervisors kept started in `<runnersDir>/.pool`, so that `start` hands the runner to one
   * of them instead of paying for a new Node process; 0 disables the pool. The pool is shared by
   * every backend on the same `runnersDir`.
   * @default 1
   */
  warmSupervisors?: number;
  /**
   * How long an idle supervisor of the pool waits for a runner before it exits.
   * @default 600_000
   */
  warmIdleMs?: number;
  /**
   * How each step is isolated (see `sandbox.ts`). Resolve it with `probeIsolation` first: the
   * backend trusts the mode to work. `hiddenPaths` adds host paths the steps must not see to those
   * of the backend itself (runners, mirrors, logs) and the host's private paths (home directory,
   * password hashes, mounted secrets), e.g. the data directory and the secret store. `network` is
   * the sandboxed steps' network (`none` unless `host`; gVisor supports `none` only).
   * @default { mode: 'none', network: 'none' }
   */
  isolation?: { mode: IsolationMode; hiddenPaths?: string[]; network?: RunnerNetwork };
}

/**
 * Runs each job attempt as local processes under a detached supervisor (see `supervisor.ts`), so
 * a job keeps running when the worker that started it dies, and any worker can reattach to it
 * through the runner directory. Each step runs in its own process group, killed as a whole.
 */
export class LocalRunnerBackend implements RunnerBackend {
  readonly name = 'local';
  readonly #runnersDir: string;
  readonly #mirrorsDir: string;
  readonly #logsDir: string;
  readonly #logDestination: LogDestination;
  readonly #staleMs: number;
  readonly #pool: WarmPool;
  readonly #sandbox: SandboxSettings;
  /** Artifacts: inputs staged before `start`, outputs matched by the supervisor after the steps. */
  readonly workspaceFiles: LocalWorkspaceFiles;

  constructor(options: LocalRunnerBackendOptions) {
    this.#runnersDir = resolvePath(options.runnersDir);
    this.#mirrorsDir = resolvePath(options.mirrorsDir);
    this.#logsDir = resolvePath(options.logsDir);
    this.#logDestination = options.logDestination ?? { kind: 'file' };
    this.#staleMs = options.heartbeatStaleMs ?? 15_000;
    this.#sandbox = {
      mode: options.isolation?.mode ?? 'none',
      hiddenPaths: [
        this.#runnersDir,
        this.#mirrorsDir,
        this.#logsDir,
        ...hostPrivatePaths(),
        ...(options.isolation?.hiddenPaths ?? []).map((path) => resolvePath(path)),
      ],
      network: options.isolation?.network ?? 'none',
    };
    this.#pool = new WarmPool({
      runnersDir: this.#runnersDir,
      size: options.warmSupervisors ?? 1,
      idleMs: options.warmIdleMs ?? 600_000,
    });
    this.#pool.refill();
    this.workspaceFiles = new LocalWorkspaceFiles(this.#runnersDir, (runnerId) => this.runnerDir(runnerId));
  }

  /** Directory of one runner. Names starting with a dot are the backend's own (the pool). */
  runnerDir(runnerId: string): string {
    if (runnerId === '' || runnerId.startsWith('.') || /[/\\\0]/.test(runnerId)) {
      throw new InvalidInputError('runnerId', `not a file-safe runner id: ${JSON.stringify(runnerId)}`);
    }
    return join(this.#runnersDir, runnerId);
  }

  async start(spec: RunnerSpec): Promise<void> {
    const dir = this.runnerDir(spec.runnerId);
    await mkdir(this.#runnersDir, { recursive: true });
    try {
      await mkdir(dir); // the idempotency point: only one caller ever creates the directory
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw startFailed(spec.runnerId, err);
    }
    const files = runnerFiles(dir);
    try {
      await writeFileAtomic(files.spec, JSON.stringify(spec, null, 2));
      await adoptStagedInputs(this.#runnersDir, spec.runnerId, dir);
      if (this.#logDestination.kind !== 'file') {
        await writeFileAtomic(files.logDestination, JSON.stringify(this.#logDestination));
      }
      if (this.#sandbox.mode !== 'none') await writeSandboxSettings(dir, this.#sandbox);
      const assignment = { runnerDir: dir, mirrorsDir: this.#mirrorsDir, logsDir: this.#logsDir };
      const pid =
        (await this.#pool.claim(assignment).catch(() => undefined)) ??
        (await spawnSupervisor([dir, this.#mirrorsDir, this.#logsDir], {
          runnersDir: this.#runnersDir,
          cwd: dir,
          logPath: files.log,
        }));
      await writeFileAtomic(files.pid, String(pid));
    } catch (err) {
      const error = startFailed(spec.runnerId, err);
      const state: RunnerState = {
        phase: 'finished',
        pid: 0,
        infraError: { code: error.code, message: error.message },
        heartbeatAt: Date.now(),
      };
      await writeState(dir, state).catch(() => undefined);
      throw error;
    } finally {
      this.#pool.refill();
    }
  }

  async wait(
    runnerId: string,
    options: { signal?: AbortSignal; onProgress?: (progress: RunnerProgress) => void } = {},
  ): Promise<RunnerOutcome> {
    const dir = this.runnerDir(runnerId);
    if (!(await exists(dir))) throw new NotFoundError('runner', `no runner ${runnerId}`);
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    const report = reportChangesOnly(onProgress);

    return new Promise<RunnerOutcome>((resolve, reject) => {
      let settled = false;
      let checking = false;
      let again = false;
      let watcher: FSWatcher | undefined;
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        watcher?.close();
        clearInterval(fallback);
        signal?.removeEventListener('abort', onAbort);
        settle();
      };
      const onAbort = () => finish(() => reject(signal?.reason));
      const check = () => {
        if (settled) return;
        if (checking) {
          again = true;
          return;
        }
        checking = true;
        void this.#inspect(runnerId, dir, report)
          .then(
            (outcome) => outcome !== undefined && finish(() => resolve(outcome)),
            (err: unknown) => finish(() => reject(err)),
          )
          .finally(() => {
            checking = false;
            if (again) {
              again = false;
              check();
            }
          });
      };
      const fallback = setInterval(check, FALLBACK_CHECK_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        watcher = watch(dir, { persistent: false }, check);
        watcher.on('error', check);
      } catch {
        // The directory vanished already: the first check reports it.
      }
      check();
    });
  }

  async cancel(runnerId: string): Promise<void> {
    const dir = this.runnerDir(runnerId);
    if (!(await exists(dir))) return;
    const before = await readState(dir);
    if (before?.phase === 'finished') return;
    const pid = before?.pid ?? (await readPid(dir));
    if (pid !== undefined && isProcessAlive(pid)) {
      signalProcess(pid, 'SIGTERM');
      if (!(await waitUntil(() => !isProcessAlive(pid), SUPERVISOR_STOP_MS))) signalProcess(pid, 'SIGKILL');
    }
    // Whatever the supervisor could not stop (or left when it died): its own group holds its git
    // commands, each step's group holds the step and its background processes.
    const after = await readState(dir);
    const groups = [...(after?.pgids ?? []), ...(after?.pgid === undefined ? [] : [after.pgid])];
    if (pid !== undefined) groups.push(pid);
    await terminateGroups(groups, GROUP_KILL_GRACE_MS);
    if (after?.phase !== 'finished' && (await exists(dir))) {
      await writeState(dir, {
        ...(after ?? { pid: pid ?? 0 }),
        phase: 'finished',
        cancelled: true,
        heartbeatAt: Date.now(),
      });
    }
  }

  /**
   * Stops keeping the pool full and retires the idle supervisors this backend started. Runners
   * keep running; the backend still works, without the pool. Safe to call more than once.
   */
  async close(): Promise<void> {
    await this.#pool.close();
  }

  async destroy(runnerId: string): Promise<void> {
    const dir = this.runnerDir(runnerId);
    await removeStagedInputs(this.#runnersDir, runnerId);
    if (!(await exists(dir))) return;
    await this.cancel(runnerId);
    await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  }

  /** One look at the runner: its outcome when finished, undefined while it runs, throws on failure. */
  async #inspect(
    runnerId: string,
    dir: string,
    report: (progress: RunnerProgress) => void,
  ): Promise<RunnerOutcome | undefined> {
    const state = await readState(dir);
    if (state !== undefined) return this.#judge(runnerId, dir, state, report);
    if (!(await exists(dir))) throw lost(runnerId, 'its directory was removed');
    report({ phase: 'starting' });
    const pid = await readPid(dir);
    if (pid !== undefined) {
      if (isProcessAlive(pid)) {
        // A supervisor writes its first state within milliseconds; one that never does is stuck.
        const silentMs = Date.now() - (await stat(runnerFiles(dir).pid)).mtimeMs;
        if (silentMs > this.#staleMs) throw lost(runnerId, `its supervisor (pid ${pid}) never reported`);
        return undefined;
      }
      const late = await readState(dir); // it may have finished between our two reads
      if (late !== undefined) return this.#judge(runnerId, dir, late, report);
      throw lost(runnerId, `its supervisor (pid ${pid}) exited before reporting`);
    }
    // Created but never launched: a worker died inside `start`. Give a concurrent `start` time.
    const age = Date.now() - (await stat(dir)).mtimeMs;
    if (age > this.#staleMs) {
      throw new InfrastructureError(
        FailureCodes.RUNNER_START_FAILED,
        `runner ${runnerId} was never launched`,
      );
    }
    return undefined;
  }

  async #judge(
    runnerId: string,
    dir: string,
    state: RunnerState,
    report: (progress: RunnerProgress) => void,
  ): Promise<RunnerOutcome | undefined> {
    if (state.phase === 'finished') {
      // A short last step may have come and gone between two looks: report it before the end.
      if (state.step !== undefined) report({ phase: 'running', step: state.step });
      if (state.infraError) {
        const { code, message } = state.infraError;
        if (isInfrastructureCode(code)) throw new InfrastructureError(code as FailureCode, message);
        throw new KilnError(code, message);
      }
      if (state.cancelled) throw new KilnError(FailureCodes.CANCELLED, `runner ${runnerId} was cancelled`);
      if (state.outcome) return state.outcome;
      throw lost(runnerId, 'it finished without an outcome');
    }
    report(state.phase === 'running' ? { phase: 'running', step: state.step } : { phase: 'checkout' });
    if (!isProcessAlive(state.pid)) {
      const late = await readState(dir);
      if (late?.phase === 'finished') return this.#judge(runnerId, dir, late, report);
      throw lost(runnerId, `its supervisor (pid ${state.pid}) is gone`);
    }
    const silentMs = Date.now() - state.heartbeatAt;
    if (silentMs > this.#staleMs) throw lost(runnerId, `no heartbeat for ${Math.round(silentMs / 1000)} s`);
    return undefined;
  }
}

function startFailed(runnerId: string, err: unknown): InfrastructureError {
  const reason = err instanceof Error ? err.message : String(err);
  return new InfrastructureError(
    FailureCodes.RUNNER_START_FAILED,
    `cannot start runner ${runnerId}: ${reason}`,
    {
      cause: err,
    },
  );
}

function lost(runnerId: string, why: string): InfrastructureError {
  return new InfrastructureError(FailureCodes.RUNNER_LOST, `runner ${runnerId} is lost: ${why}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
