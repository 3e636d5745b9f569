import { readdirSync, readFileSync } from 'node:fs';

/**
 * Process and process-group helpers. Liveness ignores zombies: an orphan whose new parent never
 * reaps it (common as pid 1 of a container) is dead for every purpose of ours, yet `kill(pid, 0)`
 * still succeeds on it. Where `/proc` is missing, `kill(pid, 0)` alone decides.
 */

/** Sends `signal` to one process; false when it does not exist. */
export function signalProcess(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Sends `signal` to every process of group `pgid`; false when the group is empty. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  if (!(pgid > 1)) return false;
  return signalProcess(-pgid, signal);
}

/** True when `pid` runs (a zombie does not count). */
export function isProcessAlive(pid: number): boolean {
  if (!(pid > 0) || !signalProcess(pid, 0)) return false;
  const stat = readStat(String(pid));
  return stat === undefined ? !hasProc() : stat.state !== 'Z';
}

/** The command line of `pid`, arguments separated by NUL: '' when it is gone, undefined without `/proc`. */
export function processCommandLine(pid: number): string | undefined {
  if (!hasProc()) return undefined;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** True when a process other than a zombie is left in group `pgid`. */
export function isGroupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false;
  if (!hasProc()) return true;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(name);
    if (stat !== undefined && stat.pgrp === pgid && stat.state !== 'Z') return true;
  }
  return false;
}

/**
 * Sends SIGTERM to the groups, then SIGKILL to those still alive after `graceMs`, and waits (at
 * most `graceMs` more) until they are gone. Resolves true when every group is gone.
 */
export async function terminateGroups(pgids: Iterable<number>, graceMs: number): Promise<boolean> {
  const groups = [...new Set(pgids)].filter((pgid) => signalGroup(pgid, 'SIGTERM'));
  if (await waitUntil(() => groups.every((pgid) => !isGroupAlive(pgid)), graceMs)) return true;
  for (const pgid of groups) signalGroup(pgid, 'SIGKILL');
  return waitUntil(() => groups.every((pgid) => !isGroupAlive(pgid)), graceMs);
}

/**
 * Checks `done` every 50 ms until it holds or `timeoutMs` passed. Used only for short, bounded
 * waits on process exit, for which the kernel offers no event to processes that are not parents.
 */
export async function waitUntil(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let procAvailable: boolean | undefined;
function hasProc(): boolean {
  if (procAvailable === undefined) {
    try {
      readFileSync('/proc/self/stat');
      procAvailable = true;
    } catch {
      procAvailable = false;
    }
  }
  return procAvailable;
}

/** State and process group from `/proc/<pid>/stat` (the command name may hold spaces and parens). */
function readStat(pid: string): { state: string; pgrp: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
}
