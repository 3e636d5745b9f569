import { readFileSync } from 'node:fs';

/**
 * True while a process with this pid exists and is not a zombie. A killed orphan stays a zombie
 * until its reaper collects it, and where pid 1 does not reap, `kill(pid, 0)` still succeeds.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..." — comm may contain spaces, so split after ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Polls until `check` holds or the time is up; returns whether it held. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

/** Pids a job printed as `pid=<n>` lines. */
export function printedPids(log: string): number[] {
  return [...log.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
}
