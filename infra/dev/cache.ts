/**
 * Kiln's download-and-build cache: `~/.cache/kiln/<name>-<version>/`. An entry is built in a
 * private temporary directory next to it and renamed into place only when complete, so a crash
 * never leaves a half-built entry and concurrent builders do not clash (the first rename wins, the
 * other copy is thrown away).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The default cache root, `~/.cache/kiln`. */
export function kilnCacheDir(): string {
  return join(homedir(), '.cache', 'kiln');
}

export interface CachedEntryOptions {
  name: string;
  version: string;
  /** Fills `dir` (an empty temporary directory); throws to abandon the entry. */
  build: (dir: string) => Promise<void>;
  /** Path inside the entry that exists only when it is complete (checked before reuse). */
  marker: string;
  /** @default ~/.cache/kiln */
  cacheDir?: string;
}

/**
 * Returns the directory of the cache entry `<name>-<version>`, building it first when it is
 * missing, and whether this call built it.
 */
export async function cachedEntry(options: CachedEntryOptions): Promise<{ dir: string; built: boolean }> {
  const root = options.cacheDir ?? kilnCacheDir();
  const dir = join(root, `${options.name}-${options.version}`);
  if (existsSync(join(dir, options.marker))) return { dir, built: false };
  await mkdir(root, { recursive: true });
  // One builder at a time (parallel test files would each start the same long build).
  const lock = join(root, `.${options.name}-${options.version}.lock`);
  const held = await acquire(lock, () => existsSync(join(dir, options.marker)));
  try {
    if (existsSync(join(dir, options.marker))) return { dir, built: false };
    return await build(root, dir, options);
  } finally {
    if (held) await rm(lock, { recursive: true, force: true });
  }
}

/** A lock older than this is taken to be left by a builder that died. */
const STALE_LOCK_MS = 30 * 60_000;

/**
 * Takes the lock directory, waiting while another process holds it; gives up waiting (returning
 * false) once `done()` says the other process built the entry.
 */
async function acquire(lock: string, done: () => boolean): Promise<boolean> {
  for (;;) {
    try {
      await mkdir(lock);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = Date.now() - ((await stat(lock).catch(() => undefined))?.mtimeMs ?? Date.now());
    if (age > STALE_LOCK_MS) await rm(lock, { recursive: true, force: true });
    else if (done()) return false;
    else await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function build(
  root: string,
  dir: string,
  options: CachedEntryOptions,
): Promise<{ dir: string; built: boolean }> {
  const work = await mkdtemp(join(root, `.${options.name}-${options.version}-`));
  try {
    await options.build(work);
    if (!existsSync(join(work, options.marker))) {
      throw new Error(`building ${options.name} ${options.version} did not produce ${options.marker}`);
    }
    // A stale, incomplete entry (no marker) is replaced; a complete one made meanwhile is kept.
    if (existsSync(dir) && !existsSync(join(dir, options.marker)))
      await rm(dir, { recursive: true, force: true });
    try {
      await rename(work, dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(join(dir, options.marker))) throw err;
    }
    return { dir, built: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
