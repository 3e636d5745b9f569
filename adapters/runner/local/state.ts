import { randomUUID } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunnerOutcome } from '../port.ts';

/**
 * What the supervisor of one local runner records in `state.json`, rewritten atomically on every
 * change and every heartbeat. It is the only channel between a supervisor and the workers that
 * wait on it, so a restarted worker learns everything from it.
 */
export interface RunnerState {
  phase: 'checkout' | 'running' | 'finished';
  /** Pid of the supervisor (also the id of its process group). */
  pid: number;
  /** Process group of the step running now. */
  pgid?: number;
  /** Process groups of every step started so far: background processes may outlive their step. */
  pgids?: number[];
  /** Name of the step running now (or the one that ended the job). */
  step?: string;
  outcome?: RunnerOutcome;
  infraError?: { code: string; message: string };
  cancelled?: boolean;
  /** Milliseconds since the epoch of the last write. */
  heartbeatAt: number;
}

/** Files of one runner directory. */
export function runnerFiles(runnerDir: string) {
  return {
    spec: join(runnerDir, 'spec.json'),
    /** Where the supervisor sends the job's log ({@link LogDestination}); absent: the NDJSON files. */
    logDestination: join(runnerDir, 'log-destination.json'),
    state: join(runnerDir, 'state.json'),
    /** Written by `start` right after the spawn, before the supervisor writes any state. */
    pid: join(runnerDir, 'supervisor.pid'),
    log: join(runnerDir, 'supervisor.log'),
    workspace: join(runnerDir, 'workspace'),
    tmp: join(runnerDir, 'tmp'),
  };
}

/**
 * Where a supervisor sends the lines of its job: NDJSON files under the backend's `logsDir`
 * (read with `FileLogStore`), or the Kafka logs topic (stored by the log archiver).
 */
export type LogDestination = { kind: 'file' } | { kind: 'kafka'; brokers: string[]; topic: string };

/** Reads `state.json`; undefined when it was not written yet (or the runner is gone). */
export async function readState(runnerDir: string): Promise<RunnerState | undefined> {
  try {
    return JSON.parse(await readFile(runnerFiles(runnerDir).state, 'utf8')) as RunnerState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Replaces `state.json` atomically (write aside, then rename), so a reader never sees half of it. */
export async function writeState(runnerDir: string, state: RunnerState): Promise<void> {
  await writeFileAtomic(runnerFiles(runnerDir).state, JSON.stringify(state));
}

/** {@link writeState}, synchronously: for the supervisor, which records its state before going on. */
export function writeStateSync(runnerDir: string, state: RunnerState): void {
  const path = runnerFiles(runnerDir).state;
  const temp = `${path}.${randomUUID()}.tmp`;
  try {
    writeFileSync(temp, JSON.stringify(state));
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

export async function writeFileAtomic(path: string, contents: string): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  try {
    // Owner-only: the spec of a job that declares secrets holds their values until destroy.
    await writeFile(temp, contents, { mode: 0o600 });
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/** Reads the supervisor pid written by `start`; undefined when absent. */
export async function readPid(runnerDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(runnerFiles(runnerDir).pid, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
