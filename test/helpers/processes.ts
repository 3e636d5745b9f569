/** True while a process with this pid exists (and is not a zombie we could still signal). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until `check` holds or the time is up; returns whether it held. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
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
