/**
 * The supervisor of one local runner: a detached process, so the job outlives the worker that
 * launched it. It checks out the commit, runs the steps, publishes their output to the log sink and
 * reports everything through `state.json`, heartbeating every 2 s. SIGTERM / SIGINT cancel the job.
 *
 * Started either cold by `LocalRunnerBackend.start` (`node supervisor.ts <runnerDir> <mirrorsDir>
 * <logsDir>`), or ahead of any job into the warm pool (`node supervisor.ts --warm <entryDir>
 * <idleMs>`, see `pool-entry.ts`): then it waits, every module loaded, until a backend claims it for
 * a runner, and from there on behaves exactly as a cold one.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { FailureCodes, KilnError } from '../../../shared/errors.ts';
import type { CompiledStep } from '../../../shared/pipeline/types.ts';
import { createFileLogSinkFactory } from '../../logs/file-logs.ts';
import { createMasker, withMasking } from '../../logs/masker.ts';
import type { LogLine, LogSink, LogTarget } from '../../logs/port.ts';
import { GitVcs } from '../../vcs/git-vcs.ts';
import type { RunnerOutcome, RunnerSpec } from '../port.ts';
import { awaitClaim, leaveEntry, removeEntry, type Assignment } from './pool-entry.ts';
import { terminateGroups } from './processes.ts';
import { readSandboxSettings, stepLaunch, type SandboxSettings } from './sandbox.ts';
import { readState, runnerFiles, writeStateSync, type LogDestination, type RunnerState } from './state.ts';
import { createLineSplitter, formatDuration, stepEnv } from './step-io.ts';
import { collectOutputs, placeStagedInputs } from './workspace-files.ts';

const HEARTBEAT_MS = 2_000;
/** Between SIGTERM and SIGKILL when a step is stopped (timeout, cancel). */
const KILL_GRACE_MS = 5_000;
/** How long to keep reading a finished step's pipes, which a background process may hold open. */
const DRAIN_MS = 200;

/** Numbers the lines of the attempt from 1 and hands them to the sink in batches. */
class LineLogger {
  readonly #sink: LogSink;
  readonly #release: () => Promise<void>;
  readonly #target: Pick<LogLine, 'buildId' | 'jobKey' | 'attempt'>;
  #seq = 0;
  #batch: LogLine[] = [];
  #writing: Promise<void> = Promise.resolve();

  constructor(opened: OpenedSink, spec: RunnerSpec) {
    this.#sink = opened.sink;
    this.#release = opened.release;
    this.#target = { buildId: spec.buildId, jobKey: spec.jobKey, attempt: spec.attempt };
  }

  emit(stream: LogLine['stream'], text: string): void {
    this.#batch.push({ ...this.#target, seq: ++this.#seq, ts: Date.now(), stream, text });
    if (this.#batch.length > 1) return;
    queueMicrotask(() => {
      const lines = this.#batch;
      this.#batch = [];
      this.#writing = this.#writing
        .then(() => this.#sink.write(lines))
        .catch((err: unknown) => console.error('cannot write log lines:', err));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await this.#writing;
    await this.#sink.close().catch((err: unknown) => console.error('cannot close the log:', err));
    await this.#release().catch((err: unknown) => console.error('cannot release the log bus:', err));
  }
}

/** One attempt's sink, and what to release once it is closed (the Kafka producers). */
interface OpenedSink {
  sink: LogSink;
  release(): Promise<void>;
}

/**
 * Opens the attempt's sink where the backend said, masked: secret values are replaced before a
 * line is written anywhere, so nothing unmasked leaves the runner. Kafka is loaded only when used.
 */
async function openLogSink(
  target: LogTarget,
  secrets: readonly string[],
  logsDir: string,
  destination: LogDestination,
): Promise<OpenedSink> {
  const mask = createMasker(secrets);
  if (destination.kind === 'file') {
    const sink = createFileLogSinkFactory(logsDir)(target);
    return { sink: withMasking(sink, mask), release: () => Promise.resolve() };
  }
  const { KafkaLogSinks } = await import('../../logs/kafka-log-sink.ts');
  const sinks = new KafkaLogSinks({
    brokers: destination.brokers,
    topic: destination.topic,
    clientId: 'kiln-runner',
  });
  // Closing the sink sends the attempt's end record; closing the sinks disconnects.
  return { sink: withMasking(sinks.factory(target), mask), release: () => sinks.close() };
}

/** The destination the backend wrote next to the spec; NDJSON files when there is none. */
function readLogDestination(runnerDir: string): LogDestination {
  try {
    return JSON.parse(readFileSync(runnerFiles(runnerDir).logDestination, 'utf8')) as LogDestination;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'file' };
    throw err;
  }
}

class Supervisor {
  readonly #dir: string;
  readonly #spec: RunnerSpec;
  readonly #vcs: GitVcs;
  readonly #log: LineLogger;
  readonly #files: ReturnType<typeof runnerFiles>;
  #state: RunnerState;
  #heartbeat: NodeJS.Timeout | undefined;
  #child: ChildProcess | undefined;
  /** How the steps are isolated (`sandbox.ts`), as the backend wrote it next to the spec. */
  readonly #sandbox: SandboxSettings;
  #stepIndex = 0;
  #stopReason: 'timeout' | 'cancel' | undefined;

  constructor(dir: string, spec: RunnerSpec, mirrorsDir: string, sink: OpenedSink) {
    this.#dir = dir;
    this.#spec = spec;
    this.#files = runnerFiles(dir);
    this.#vcs = new GitVcs({ mirrorsDir });
    this.#log = new LineLogger(sink, spec);
    this.#sandbox = readSandboxSettings(dir);
    this.#state = { phase: 'checkout', pid: process.pid, pgids: [], heartbeatAt: Date.now() };
  }

  async run(): Promise<void> {
    process.on('SIGTERM', () => this.#stop('cancel'));
    process.on('SIGINT', () => this.#stop('cancel'));
    this.#update({});
    this.#heartbeat = setInterval(() => this.#update({}), HEARTBEAT_MS);
    try {
      if (!(await this.#checkout())) return;
      if (this.#stopReason === 'cancel') return await this.#finish({ cancelled: true });
      const end = await this.#runSteps();
      const emit = (text: string) => this.#log.emit('system', text);
      await this.#finish(await collectOutputs(this.#dir, this.#files.workspace, this.#spec, end, emit));
    } catch (err) {
      console.error('supervisor failed:', err);
      const message = `the supervisor of runner ${this.#spec.runnerId} failed: ${String(err)}`;
      await this.#finish({ infraError: { code: FailureCodes.RUNNER_LOST, message } });
    }
  }

  async #checkout(): Promise<boolean> {
    const { cloneUrl, sha, ref } = this.#spec.checkout;
    const started = Date.now();
    this.#log.emit('system', `▶ checkout: ${ref} @ ${sha}`);
    try {
      await Promise.all([
        mkdir(this.#files.tmp, { recursive: true }),
        this.#vcs.checkout(cloneUrl, sha, this.#files.workspace),
      ]);
      // Artifacts of the jobs this one needs, after the checkout and before the first step.
      await placeStagedInputs(this.#dir, this.#files.workspace, (text) => this.#log.emit('system', text));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const code = err instanceof KilnError ? err.code : FailureCodes.CHECKOUT_FAILED;
      this.#log.emit('system', `✖ checkout failed: ${message}`);
      await this.#finish({ infraError: { code, message } });
      return false;
    }
    this.#log.emit('system', `✔ checked out in ${formatDuration(Date.now() - started)}`);
    return true;
  }

  async #runSteps(): Promise<Partial<RunnerState>> {
    const timeout = setTimeout(() => this.#stop('timeout'), this.#spec.timeoutMs);
    const started = Date.now();
    let current: string | undefined;
    try {
      for (const step of this.#spec.steps) {
        if (this.#stopReason !== undefined) break;
        current = step.name;
        const { exitCode, ms } = await this.#runStep(step);
        if (this.#stopReason !== undefined) break;
        const mark = exitCode === 0 ? '✔' : '✖';
        this.#log.emit('system', `${mark} exit ${exitCode} in ${formatDuration(ms)}`);
        if (exitCode !== 0) return { outcome: { status: 'failed', exitCode, failedStep: step.name } };
      }
    } finally {
      clearTimeout(timeout);
    }
    if (this.#stopReason === 'cancel') return { cancelled: true };
    if (this.#stopReason === 'timeout') {
      this.#log.emit('system', `✖ timed out after ${formatDuration(Date.now() - started)}`);
      const outcome: RunnerOutcome = {
        status: 'timed_out',
        ...(current === undefined ? {} : { failedStep: current }),
      };
      return { outcome };
    }
    return { outcome: { status: 'succeeded', exitCode: 0 } };
  }

  /**
   * Runs one step in its own process group, inside the runner's sandbox; resolves when its shell
   * (or the sandbox around it) exited.
   */
  async #runStep(step: CompiledStep): Promise<{ exitCode: number; ms: number }> {
    this.#log.emit('system', `▶ step: ${step.name}`);
    const started = Date.now();
    const workspace = this.#files.workspace;
    const gitObjects = join(this.#vcs.mirrorPath(this.#spec.checkout.cloneUrl), 'objects');
    const dirs = { runnerDir: this.#dir, workspace, tmp: this.#files.tmp, readOnly: [gitObjects] };
    // A sandboxed step cannot see the host's home directory (it is hidden): its own is its tmp.
    const inherited = this.#sandbox.mode === 'none' ? process.env : { ...process.env, HOME: dirs.tmp };
    const env = stepEnv(this.#spec, step, dirs, inherited);
    const launch = await stepLaunch(this.#sandbox, dirs, this.#stepIndex++, step.run, env);
    // Stopped while the sandbox was being prepared: the step never starts.
    if (this.#stopReason !== undefined) {
      await launch.cleanup();
      return { exitCode: 128 + constants.signals.SIGTERM, ms: Date.now() - started };
    }
    const child = spawn(launch.command, launch.args, {
      cwd: workspace,
      env: launch.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    const exited = new Promise<number>((resolve) => {
      child.once('error', (err) => {
        this.#log.emit('system', `✖ cannot start the step: ${err.message}`);
        resolve(127);
      });
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
    if (child.pid !== undefined) {
      this.#update({
        phase: 'running',
        step: step.name,
        pgid: child.pid,
        pgids: [...(this.#state.pgids ?? []), child.pid],
      });
    }
    const drained = [this.#capture(child, 'stdout'), this.#capture(child, 'stderr')];
    const exitCode = await exited;
    this.#child = undefined;
    await Promise.race([Promise.all(drained), new Promise((resolve) => setTimeout(resolve, DRAIN_MS))]);
    await launch.cleanup();
    return { exitCode, ms: Date.now() - started };
  }

  /** Publishes one pipe line by line; resolves when the pipe closed. */
  #capture(child: ChildProcess, stream: 'stdout' | 'stderr'): Promise<void> {
    const pipe = child[stream];
    if (pipe === null) return Promise.resolve();
    const splitter = createLineSplitter((text) => this.#log.emit(stream, text));
    pipe.on('data', (chunk: Buffer) => splitter.push(chunk));
    return new Promise((resolve) => {
      pipe.once('close', () => {
        splitter.end();
        resolve();
      });
    });
  }

  /** Timeout or cancel: stop the running step's whole process group, SIGKILL after a grace period. */
  #stop(reason: 'timeout' | 'cancel'): void {
    if (this.#stopReason !== undefined || this.#state.phase === 'finished') return;
    this.#stopReason = reason;
    if (reason === 'cancel') this.#log.emit('system', '✖ cancelled');
    const pid = this.#child?.pid;
    if (pid !== undefined) void terminateGroups([pid], KILL_GRACE_MS);
    // Cancelled during the checkout: nothing of the job runs yet, so report at once.
    if (reason === 'cancel' && this.#state.phase === 'checkout') void this.#finish({ cancelled: true });
  }

  /** Kills whatever the steps left behind, flushes the logs, then records the end. */
  async #finish(end: Partial<RunnerState>): Promise<void> {
    if (this.#state.phase === 'finished' || this.#heartbeat === undefined) return;
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    await terminateGroups(this.#state.pgids ?? [], KILL_GRACE_MS);
    await this.#log.close();
    this.#update({ ...end, phase: 'finished', pgid: undefined });
    process.exit(0);
  }

  /**
   * Merges `change` into the state and rewrites `state.json` atomically. Synchronously: the state is
   * on disk before anything else happens (a step's process group is recorded before the step can
   * do much, should this process die right after), and no thread-pool round trip delays a reader.
   */
  #update(change: Partial<RunnerState>): void {
    this.#state = { ...this.#state, ...change, heartbeatAt: Date.now() };
    try {
      writeStateSync(this.#dir, this.#state);
    } catch (err) {
      console.error('cannot write the runner state:', err);
    }
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--warm') {
    const [, entryDir, idleMs] = args;
    if (entryDir === undefined || !(Number(idleMs) > 0)) usage();
    // A Node process pays a few ms more for its first child process than for the next ones: pay
    // them now, not in the job's checkout.
    execFile('git', ['--version'], () => undefined);
    const assignment = await awaitClaim(entryDir, Number(idleMs));
    if (assignment === undefined) return removeEntry(entryDir);
    leaveEntry(entryDir, assignment.runnerDir);
    return supervise(assignment);
  }
  const [runnerDir, mirrorsDir, logsDir] = args;
  if (runnerDir === undefined || mirrorsDir === undefined || logsDir === undefined) usage();
  await supervise({ runnerDir, mirrorsDir, logsDir });
}

async function supervise({ runnerDir, mirrorsDir, logsDir }: Assignment): Promise<void> {
  // Cancelled (or failed) before we got here: nothing to run.
  if ((await readState(runnerDir))?.phase === 'finished') return;
  const spec = JSON.parse(readFileSync(runnerFiles(runnerDir).spec, 'utf8')) as RunnerSpec;
  const target = { buildId: spec.buildId, jobKey: spec.jobKey, attempt: spec.attempt };
  const secrets = Object.values(spec.secretEnv ?? {});
  const sink = await openLogSink(target, secrets, logsDir, readLogDestination(runnerDir));
  await new Supervisor(runnerDir, spec, mirrorsDir, sink).run();
}

function usage(): never {
  console.error('usage: supervisor.ts <runnerDir> <mirrorsDir> <logsDir> | --warm <entryDir> <idleMs>');
  process.exit(2);
}

await main();
