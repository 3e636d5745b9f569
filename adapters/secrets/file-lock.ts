import { closeSync, openSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { SecretStoreUnavailableError } from './errors.ts';

/** A lock older than this is left over by a crashed process (holders keep it for milliseconds). */
const STALE_MS = 10_000;
/** Waiting longer than this means something is wrong; the caller retries. */
const WAIT_MS = 15_000;

/**
 * Runs `fn` while holding an exclusive lock file, so read-modify-write cycles of several processes
 * sharing one store file (API, orchestrator and runner workers) do not lose each other's updates.
 * `fn` is synchronous: the lock is held only for the file I/O itself.
 */
export async function withFileLock<T>(lockFile: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let fd: number;
    try {
      fd = openSync(lockFile, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      removeIfStale(lockFile);
      if (Date.now() > deadline) {
        throw new SecretStoreUnavailableError('lock', `${lockFile} is held by another process for too long`);
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 15));
      continue;
    }
    try {
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      return fn();
    } finally {
      rmSync(lockFile, { force: true });
    }
  }
}

function removeIfStale(lockFile: string): void {
  try {
    if (Date.now() - statSync(lockFile).mtimeMs > STALE_MS) unlinkSync(lockFile);
  } catch {
    // Released (or removed by another waiter) meanwhile: try again.
  }
}
