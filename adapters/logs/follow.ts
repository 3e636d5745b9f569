import type { ArchivedLogStore } from './archived-log-store.ts';
import type { LogEnd, LogLine, LogTail, LogTarget } from './port.ts';

export type FollowEvent = { type: 'line'; line: LogLine } | { type: 'end'; lastSeq: number };

/**
 * Follows one attempt's log from `fromSeq` (see {@link followLog}, and `followLogFile` for the
 * embedded NDJSON files). `ended` tells whether the attempt is over (its job attempt is final),
 * for followers that cannot learn it from the log itself.
 */
export type LogFollower = (request: {
  target: LogTarget;
  fromSeq: number;
  signal: AbortSignal;
  ended: () => Promise<boolean>;
}) => AsyncIterable<FollowEvent>;

/** A {@link LogFollower} over the archive and the live tail of the log bus. */
export function createBusFollower(deps: Pick<FollowOptions, 'archive' | 'tail'>): LogFollower {
  return ({ target, fromSeq, signal }) => followLog({ ...deps, target, fromSeq, signal });
}

export interface FollowOptions {
  archive: Pick<ArchivedLogStore, 'readFrom' | 'manifest'>;
  tail: LogTail;
  target: LogTarget;
  /** First seq wanted (SSE resume: `Last-Event-ID` + 1). @default 1 */
  fromSeq?: number;
  /** Stops following (e.g. the HTTP client went away). */
  signal?: AbortSignal;
  /** Live lines held while the archive is read, or while the consumer is slow; beyond it the follow fails. @default 100000 */
  maxQueued?: number;
}

/**
 * One attempt's whole log, then its live lines as they are written, then an `end` event once the
 * attempt ended: archived lines first, then the live tail, each seq once and in order. It
 * subscribes before reading the archive, so no line falls between the two (see {@link LogTail}).
 * It ends by itself when the manifest says the attempt ended; otherwise when the end record
 * arrives, or when `signal` aborts. An attempt whose writer died without ending never ends by
 * itself: give up after a while with `signal`, or have the job's owner publish the end
 * (`KafkaLogSinks.end`).
 */
export async function* followLog(options: FollowOptions): AsyncIterable<FollowEvent> {
  const { archive, tail, target, signal } = options;
  const maxQueued = options.maxQueued ?? 100_000;
  const queue: (LogLine | LogEnd)[] = [];
  let head = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const push = (item: LogLine | LogEnd): void => {
    if (queue.length - head >= maxQueued)
      failure ??= new Error(`log follower of ${target.jobKey} fell too far behind`);
    else queue.push(item);
    notify();
  };
  signal?.addEventListener('abort', notify);
  const unsubscribe = await tail.subscribe(target, options.fromSeq ?? 1, {
    onLine: push,
    onEnd: push,
    onError: (error) => {
      failure ??= error;
      notify();
    },
  });
  try {
    let next = options.fromSeq ?? 1;
    for await (const line of archive.readFrom(target, next)) {
      if (signal?.aborted) return;
      next = line.seq + 1;
      yield { type: 'line', line };
    }
    const manifest = await archive.manifest(target);
    if (manifest !== undefined) {
      // Ended and wholly archived: what the first read missed (written since) is there too.
      for await (const line of archive.readFrom(target, next)) {
        if (signal?.aborted) return;
        next = line.seq + 1;
        yield { type: 'line', line };
      }
      yield { type: 'end', lastSeq: manifest.lastSeq };
      return;
    }
    for (;;) {
      if (signal?.aborted) return;
      if (failure !== undefined) throw failure;
      const item = queue[head];
      if (item === undefined) {
        queue.length = head = 0;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      head++;
      if ('lastSeq' in item) {
        // An end published on behalf of a lost runner cannot know its last seq (it says 0).
        yield { type: 'end', lastSeq: Math.max(item.lastSeq, next - 1) };
        return;
      }
      if (item.seq < next) continue;
      next = item.seq + 1;
      yield { type: 'line', line: item };
    }
  } finally {
    unsubscribe();
    signal?.removeEventListener('abort', notify);
  }
}
