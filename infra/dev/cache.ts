/**
 * Kiln's download-and-build cache: `~/.cache/kiln/<name>-<version>/`. An entry is built in a
 * private temporary directory next to it and renamed into place only when complete, so a crash
 * never leaves a half-built entry and concurrent builders do not clash (the first rename wins, the
 * other copy is thrown away).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
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
