import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { claimEntry, poolEntryFiles, removeEntry, type Assignment } from './pool-entry.ts';
import { isProcessAlive, processCommandLine } from './processes.ts';
import { writeFileAtomic } from './state.ts';
import { isSupervisorCommand, spawnSupervisor } from './supervisor-process.ts';

/** An entry without a pid for this long is left from a backend that died starting its supervisor. */
const LOADING_GRACE_MS = 30_000;

/** Options of {@link WarmPool}. */
export interface WarmPoolOptions {
  runnersDir: string;
  /** How many idle supervisors to keep ready; 0 disables the pool. */
  size: number;
  /** How long an idle supervisor waits for a runner before it exits. */
  idleMs: number;
}

type EntryState = 'ready' | 'loading' | 'claimed' | 'stale';

/**
 * Idle supervisors started ahead of the jobs (see `pool-entry.ts` for the protocol), so that a
 * runner starts without paying for a Node process and its modules. The pool lives in
 * `<runnersDir>/.pool` and is shared by every backend on that directory: each counts what is
 * there, keeps it at `size`, adopts what a previous worker left and removes entries whose
 * supervisor died.
 */
export class WarmPool {
  readonly #runnersDir: string;
  readonly #dir: string;
  readonly #size: number;
  readonly #idleMs: number;
  /** Entries this pool started and nobody claimed yet, as far as it knows: retired by `close`. */
  readonly #started = new Set<string>();
  #filling: Promise<void> | undefined;
  #fillAgain = false;
  #closed = false;

  constructor(options: WarmPoolOptions) {
    this.#runnersDir = options.runnersDir;
    this.#dir = join(options.runnersDir, '.pool');
    this.#size = options.size;
    this.#idleMs = options.idleMs;
  }

  /**
   * Hands `assignment` to an idle supervisor, a ready one first; resolves with its pid, or undefined
   * when none could be claimed (the caller then starts a supervisor itself).
   */
  async claim(assignment: Assignment): Promise<number | undefined> {
    if (this.#size === 0 || this.#closed) return undefined;
    const loading: { entry: string; pid: number }[] = [];
    for (const name of await this.#names()) {
      const entry = join(this.#dir, name);
      const pid = await readEntryPid(entry);
      if (pid === undefined || !isWarmSupervisor(entry, pid)) continue;
      if (!(await exists(poolEntryFiles(entry).ready))) loading.push({ entry, pid });
      else if (await claimEntry(entry, assignment)) return this.#claimed(entry, pid);
    }
    // One still loading is still ahead of a supervisor started now.
    for (const { entry, pid } of loading) {
      if (await claimEntry(entry, assignment)) return this.#claimed(entry, pid);
    }
    return undefined;
  }

  /** Brings the pool back to its size in the background; never throws (the pool is a shortcut). */
  refill(): void {
    if (this.#size === 0 || this.#closed) return;
    this.#fillAgain = true;
    this.#filling ??= this.#fillLoop();
  }

  async #fillLoop(): Promise<void> {
    // Let the caller's work (a runner being adopted) go first.
    await new Promise((resolve) => setImmediate(resolve));
    while (this.#fillAgain && !this.#closed) {
      this.#fillAgain = false;
      await this.#fill().catch(() => undefined);
    }
    this.#filling = undefined; // in the same turn as the last look at #fillAgain: no call is lost
  }

  /** Stops refilling and retires the idle supervisors this pool started. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#filling;
    await Promise.all([...this.#started].map((entry) => claimEntry(entry, undefined).catch(() => false)));
    this.#started.clear();
  }

  #claimed(entry: string, pid: number): number {
    this.#started.delete(entry);
    return pid;
  }

  async #fill(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    let available = 0;
    const present = new Set<string>();
    for (const name of await this.#names()) {
      const entry = join(this.#dir, name);
      present.add(entry);
      const state = await inspectEntry(entry);
      if (state === 'ready' || state === 'loading') available += 1;
      else if (state === 'stale') await removeEntry(entry);
    }
    for (const entry of this.#started) if (!present.has(entry)) this.#started.delete(entry);
    for (; available < this.#size && !this.#closed; available += 1) await this.#start();
  }

  async #start(): Promise<void> {
    const entry = join(this.#dir, randomUUID());
    await mkdir(entry);
    try {
      const pid = await spawnSupervisor(['--warm', entry, String(this.#idleMs)], {
        runnersDir: this.#runnersDir,
        cwd: entry,
        logPath: poolEntryFiles(entry).log,
      });
      await writeFileAtomic(poolEntryFiles(entry).pid, String(pid));
      this.#started.add(entry);
    } catch (err) {
      await removeEntry(entry);
      throw err;
    }
  }

  async #names(): Promise<string[]> {
    try {
      return (await readdir(this.#dir)).filter((name) => !name.startsWith('.'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }
}

async function inspectEntry(entry: string): Promise<EntryState> {
  const files = poolEntryFiles(entry);
  try {
    const pid = await readEntryPid(entry);
    if (pid === undefined) {
      const age = Date.now() - (await stat(entry)).mtimeMs;
      return age < LOADING_GRACE_MS ? 'loading' : 'stale';
    }
    if (!isWarmSupervisor(entry, pid)) return 'stale';
    if (await exists(files.claim)) return 'claimed';
    return (await exists(files.ready)) ? 'ready' : 'loading';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'claimed'; // gone meanwhile
    throw err;
  }
}

async function readEntryPid(entry: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(poolEntryFiles(entry).pid, 'utf8'), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The pid is alive and, where `/proc` tells, still the supervisor of this entry (not a reused pid). */
function isWarmSupervisor(entry: string, pid: number): boolean {
  if (!isProcessAlive(pid)) return false;
  const commandLine = processCommandLine(pid);
  return commandLine === undefined || isSupervisorCommand(commandLine, ['--warm', entry]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
