import { watch, type FSWatcher } from 'node:fs';
import { open } from 'node:fs/promises';
import { logFilePath, tryParse } from './file-logs.ts';
import type { FollowEvent, LogFollower } from './follow.ts';
import type { LogTarget } from './port.ts';

const READ_BYTES = 64 * 1024;

export interface FollowLogFileOptions {
  logsDir: string;
  target: LogTarget;
  /** First seq wanted (SSE resume: `Last-Event-ID` + 1). @default 1 */
  fromSeq?: number;
  signal?: AbortSignal;
  /** True once no line of the attempt can be written any more (its job attempt is final). */
  ended: () => Promise<boolean>;
  /** How often `ended` is asked, and the file re-read should `fs.watch` miss a change. @default 1000 */
  checkMs?: number;
}

/**
 * One attempt's NDJSON log (written by `FileLogSink`), then its lines as they are appended, then an
 * `end` event once `ended` says so: each seq once and in order. The file is read on from where the
 * last read stopped, woken by `fs.watch` and, as a safety net, every `checkMs`. `ended` is asked
 * before the last read, so every line written before the attempt ended is sent before the end.
 */
export async function* followLogFile(options: FollowLogFileOptions): AsyncIterable<FollowEvent> {
  const { target, signal } = options;
  const path = logFilePath(options.logsDir, target);
  const checkMs = options.checkMs ?? 1_000;
  let next = options.fromSeq ?? 1;
  let lastSeq = 0;
  let offset = 0;
  let rest = Buffer.alloc(0);
  let watcher: FSWatcher | undefined;
  let wake: (() => void) | undefined;
  /** A change seen while nobody waited: the next wait returns at once. */
  let changed = false;
  const notify = (): void => {
    if (wake === undefined) changed = true;
    wake?.();
    wake = undefined;
  };
  signal?.addEventListener('abort', notify);

  /** Complete lines appended since the last read. A line without its newline waits for it. */
  async function* readNew() {
    let file;
    try {
      file = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      watcher ??= watchQuietly(path, notify);
      const buffer = Buffer.alloc(READ_BYTES);
      for (;;) {
        const { bytesRead } = await file.read(buffer, 0, READ_BYTES, offset);
        if (bytesRead === 0) return;
        offset += bytesRead;
        const data = Buffer.concat([rest, buffer.subarray(0, bytesRead)]);
        let start = 0;
        for (let end = data.indexOf(10); end !== -1; end = data.indexOf(10, start)) {
          const line = tryParse(data.subarray(start, end).toString('utf8'), target);
          start = end + 1;
          if (line === undefined) continue;
          lastSeq = Math.max(lastSeq, line.seq);
          if (line.seq >= next) {
            next = line.seq + 1;
            yield line;
          }
        }
        rest = Buffer.from(data.subarray(start));
      }
    } finally {
      await file.close();
    }
  }

  try {
    let checkedAt = 0;
    for (;;) {
      if (signal?.aborted) return;
      let ended = false;
      if (Date.now() - checkedAt >= checkMs) {
        ended = await options.ended();
        checkedAt = Date.now();
      }
      for await (const line of readNew()) {
        if (signal?.aborted) return;
        yield { type: 'line', line };
      }
      if (ended) {
        yield { type: 'end', lastSeq };
        return;
      }
      if (changed) {
        changed = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(notify, checkMs - Math.min(checkMs, Date.now() - checkedAt)).unref();
      });
    }
  } finally {
    watcher?.close();
    signal?.removeEventListener('abort', notify);
  }
}

/** A {@link LogFollower} over the NDJSON files under `logsDir`. */
export function createFileFollower(logsDir: string): LogFollower {
  return (request) => followLogFile({ logsDir, ...request });
}

/** `fs.watch` where it works; the periodic re-read covers file systems where it does not. */
function watchQuietly(path: string, onChange: () => void): FSWatcher | undefined {
  try {
    const watcher = watch(path, { persistent: false }, onChange);
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch {
    return undefined;
  }
}
