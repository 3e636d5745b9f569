/**
 * One entry of the warm supervisor pool: a directory `<runnersDir>/.pool/<id>/` owned by one idle
 * supervisor, which loads everything it needs ahead of any job and waits to be handed a runner.
 *
 * - `pid`: the supervisor's pid, written by the backend that started it.
 * - `ready`: written by the supervisor once loaded and watching the entry. A backend prefers ready
 *   entries, yet may claim one still loading: it adopts the claim as soon as it is ready.
 * - `claim`: created exactly once, atomically, by whoever wins the entry: a backend handing it a
 *   runner (an {@link Assignment}), or a retirement (empty: the supervisor's idle limit, a backend
 *   closing, SIGTERM). `link(2)` creates it whole, and fails when it exists: one claimer wins.
 * - `supervisor.log`: the supervisor's output, moved into the runner directory on adoption.
 *
 * Removing the entry (or the whole pool directory) retires its supervisor too.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, renameSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { link, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What a backend hands to the supervisor of the entry it claimed. */
export interface Assignment {
  runnerDir: string;
  mirrorsDir: string;
  logsDir: string;
}

/** Safety net next to `fs.watch`, which may miss events on some file systems. */
const FALLBACK_CHECK_MS = 1_000;

/** Files of one pool entry. */
export function poolEntryFiles(entryDir: string) {
  return {
    pid: join(entryDir, 'pid'),
    ready: join(entryDir, 'ready'),
    claim: join(entryDir, 'claim'),
    log: join(entryDir, 'supervisor.log'),
  };
}

/**
 * Claims the entry for `assignment`, or retires it when `assignment` is undefined. True when this
 * call won the entry; false when someone else did first or the entry is gone.
 */
export async function claimEntry(entryDir: string, assignment: Assignment | undefined): Promise<boolean> {
  const { claim } = poolEntryFiles(entryDir);
  const temp = `${claim}.${randomUUID()}.tmp`;
  try {
    await writeFile(temp, assignment === undefined ? '' : JSON.stringify(assignment));
    await link(temp, claim);
    return true; // the temporary name goes with the entry, which its supervisor removes
  } catch (err) {
    await rm(temp, { force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOENT') return false;
    throw err;
  }
}

/** Removes an entry whatever it holds. */
export async function removeEntry(entryDir: string): Promise<void> {
  await rm(entryDir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}

/**
 * The idle life of a warm supervisor: marks the entry ready, then waits (on `fs.watch`, with a slow
 * fallback check) until it is claimed. Resolves with the assignment, or undefined when the
 * supervisor should exit: retired, its entry removed, idle for `idleMs`, or SIGTERM / SIGINT.
 * Synchronous file calls: this process does nothing else, and each saves a thread-pool round trip.
 */
export function awaitClaim(entryDir: string, idleMs: number): Promise<Assignment | undefined> {
  const files = poolEntryFiles(entryDir);
  return new Promise((resolve) => {
    let settled = false;
    let watcher: FSWatcher | undefined;
    const finish = (assignment: Assignment | undefined) => {
      if (settled) return;
      settled = true;
      watcher?.close();
      clearInterval(fallback);
      clearTimeout(idle);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(assignment);
    };
    const check = () => {
      if (settled) return;
      try {
        const claim = readClaim(entryDir);
        if (claim !== 'unclaimed') finish(claim);
      } catch {
        finish(undefined);
      }
    };
    // Retiring is a claim like any other, so it never loses a runner claimed at the same moment.
    const retire = () => void claimEntry(entryDir, undefined).then(check, () => finish(undefined));
    // Signalled even though claimed: exit, as a cold supervisor killed before reporting would.
    const onSignal = () => {
      const exit = () => finish(undefined);
      void claimEntry(entryDir, undefined).then(exit, exit);
    };
    const fallback = setInterval(check, FALLBACK_CHECK_MS);
    const idle = setTimeout(retire, idleMs);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      watcher = watch(entryDir, check);
      watcher.on('error', check);
      writeFileSync(files.ready, String(process.pid));
    } catch {
      finish(undefined); // the entry is gone already
      return;
    }
    check();
  });
}

/**
 * Moves into the runner directory after a claim: the supervisor's output goes on in the runner's
 * `supervisor.log` (the open file moves with its name), and the entry is removed in the background.
 */
export function leaveEntry(entryDir: string, runnerDir: string): void {
  try {
    renameSync(poolEntryFiles(entryDir).log, join(runnerDir, 'supervisor.log'));
  } catch {
    // Without its log the runner still runs; a missing runner directory fails right after.
  }
  process.chdir(runnerDir);
  void removeEntry(entryDir).catch(() => undefined);
}

function readClaim(entryDir: string): Assignment | undefined | 'unclaimed' {
  let text: string;
  try {
    text = readFileSync(poolEntryFiles(entryDir).claim, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    statSync(entryDir); // throws once the entry is gone: nothing will ever claim it
    return 'unclaimed';
  }
  return text === '' ? undefined : (JSON.parse(text) as Assignment);
}
