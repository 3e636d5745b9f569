import type { ObjectStore } from '../objects/port.ts';

/**
 * Shared pieces of the retention sweeps: bounded parallel deletes, counts, and the resume point.
 * A sweep walks keys in ascending order and reports progress as "every key up to `after` is
 * done", so a sweep restarted with that point skips what it already decided and redoes the rest
 * (deleting a missing key succeeds, so redoing is harmless).
 */

/** What a sweep deleted: objects and their bytes (as listed). */
export interface SweepCounts {
  deleted: number;
  bytes: number;
}

/** Where a sweep stands: keys `<= after` are done. Sent as a heartbeat, read back on a retry. */
export interface SweepProgress {
  after?: string;
  counts: SweepCounts;
}

/** Called after each page: record progress (heartbeat), and throw to stop (cancellation). */
export type OnSweepProgress = (progress: SweepProgress) => void;

export interface SweepOptions {
  /** Keys examined between progress reports (and deleted at once at most). @default 500 */
  pageSize?: number;
  /** Resume point of an interrupted sweep. */
  resume?: SweepProgress;
  onProgress?: OnSweepProgress;
}

/** Deletes at most this many objects in parallel (S3 has no batch delete in the port). */
const DELETE_PARALLELISM = 8;

export function zeroCounts(): SweepCounts {
  return { deleted: 0, bytes: 0 };
}

/** Deletes `objects` (8 at a time) and adds them to `counts`. */
export async function deleteAll(
  store: ObjectStore,
  objects: readonly { key: string; size: number }[],
  counts: SweepCounts,
): Promise<void> {
  for (let i = 0; i < objects.length; i += DELETE_PARALLELISM) {
    const batch = objects.slice(i, i + DELETE_PARALLELISM);
    await Promise.all(batch.map((object) => store.delete(object.key)));
    for (const object of batch) {
      counts.deleted++;
      counts.bytes += object.size;
    }
  }
}

/** Keys under `prefix` after the resume point, ascending. */
export async function* listAfter(
  store: ObjectStore,
  prefix: string,
  after: string | undefined,
): AsyncIterable<{ key: string; size: number }> {
  for await (const object of store.list(prefix)) {
    if (after !== undefined && object.key <= after) continue;
    yield object;
  }
}
