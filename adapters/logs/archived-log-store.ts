import type { ObjectStore } from '../objects/port.ts';
import { jobPrefix, listChunks, LOGS_PREFIX, readChunk, readManifest, type LogManifest } from './chunks.ts';
import type { LogLine, LogStore, LogTarget } from './port.ts';

/**
 * Reads the logs the archiver wrote to an object store. Lines come chunk by chunk in seq order,
 * each chunk streamed (gunzipped and parsed as it downloads), and every seq at most once: chunks
 * rewritten after an archiver restart may overlap, and the overlap is dropped here.
 */
export class ArchivedLogStore implements LogStore {
  readonly #objects: ObjectStore;
  readonly #prefix: string;

  constructor(options: { objects: ObjectStore; prefix?: string }) {
    this.#objects = options.objects;
    this.#prefix = options.prefix ?? LOGS_PREFIX;
  }

  /** Attempts with at least one archived chunk, ascending (lines still on the bus are not counted). */
  async attempts(buildId: string, jobKey: string): Promise<number[]> {
    const prefix = jobPrefix(buildId, jobKey, this.#prefix);
    const attempts = new Set<number>();
    for await (const { key } of this.#objects.list(prefix)) {
      const segment = key.slice(prefix.length).split('/')[0] ?? '';
      if (/^\d+$/.test(segment)) attempts.add(Number(segment));
    }
    return [...attempts].sort((a, b) => a - b);
  }

  async *read(buildId: string, jobKey: string, attempt: number): AsyncIterable<LogLine> {
    yield* this.readFrom({ buildId, jobKey, attempt }, 1);
  }

  /** The lines with `seq >= fromSeq`, in order. Chunks wholly before `fromSeq` are not downloaded. */
  async *readFrom(target: LogTarget, fromSeq: number): AsyncIterable<LogLine> {
    const chunks = await listChunks(this.#objects, target, this.#prefix);
    // Skip chunks that the next one shows to end before fromSeq.
    let first = 0;
    while (first + 1 < chunks.length && (chunks[first + 1]?.firstSeq ?? 0) <= fromSeq) first++;
    let next = fromSeq;
    for (const chunk of chunks.slice(first)) {
      for await (const stored of readChunk(this.#objects, chunk.key)) {
        if (stored.seq < next) continue;
        next = stored.seq + 1;
        yield { ...target, seq: stored.seq, ts: stored.ts, stream: stored.stream, text: stored.text };
      }
    }
  }

  /** The manifest written when the attempt ended, or `undefined` while it has not (or its runner died). */
  manifest(target: LogTarget): Promise<LogManifest | undefined> {
    return readManifest(this.#objects, target, this.#prefix);
  }
}
