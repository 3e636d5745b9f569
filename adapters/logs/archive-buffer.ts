/**
 * The archiver's core, independent of the bus: buffers lines per attempt, writes them as ordered
 * gzip chunks, writes the manifest when an attempt ends, and tells which bus offsets are safe to
 * commit — those below which every line is in the object store.
 */
import type { ObjectStore } from '../objects/port.ts';
import {
  CHUNK_CONTENT_TYPE,
  chunkKey,
  encodeChunk,
  listChunks,
  LOGS_PREFIX,
  manifestKey,
  readChunk,
  readManifest,
  serializeLine,
  type LogManifest,
} from './chunks.ts';
import { attemptId, recordTarget, type LogRecord } from './log-records.ts';
import type { LogEnd, LogLine, LogTarget } from './port.ts';

/** Records of one partition, in offset order, as a bus delivers them. */
export interface RecordBatch {
  partition: number;
  /** `record` is `undefined` for a message that is not a log record (skipped). */
  records: { offset: number; record: LogRecord | undefined }[];
  /** The offset following this batch. */
  nextOffset: number;
}

export interface ArchiveBufferOptions {
  objects: ObjectStore;
  /** A buffered line is written within this long. */
  flushMs: number;
  /** An attempt's buffer is written once it holds this many bytes of NDJSON. */
  flushBytes: number;
  /** @default 'logs/' */
  prefix?: string;
  /** @default 8 */
  maxConcurrentWrites?: number;
  /** Above this many buffered bytes in all, the largest buffer is written early. @default 64 MiB */
  maxBufferedBytes?: number;
  /** @default 4 */
  gzipLevel?: number;
  /** Called when a chunk write finished (for committing promptly). */
  onWritten?: () => void;
}

interface Hold {
  partition: number;
  offset: number;
}

interface Pending {
  lines: string[];
  bytes: number;
  firstSeq: number;
  startedAt: number;
  hold: Hold;
}

interface AttemptState {
  target: LogTarget;
  /** Every line up to this seq is written, being written, or buffered. */
  takenSeq: number;
  pending: Pending | undefined;
  writes: Set<Promise<void>>;
  touchedAt: number;
}

/** How long an attempt without buffered lines is remembered (e.g. one whose runner died). */
const IDLE_FORGET_MS = 10 * 60_000;

export class ArchiveBuffer {
  readonly #options: Required<Omit<ArchiveBufferOptions, 'onWritten'>> &
    Pick<ArchiveBufferOptions, 'onWritten'>;
  #attempts = new Map<string, AttemptState>();
  #consumed = new Map<number, number>();
  #holds = new Set<Hold>();
  #writes = new Set<Promise<void>>();
  #bufferedBytes = 0;
  #generation = 0;
  #failure: unknown;

  constructor(options: ArchiveBufferOptions) {
    this.#options = {
      prefix: LOGS_PREFIX,
      maxConcurrentWrites: 8,
      maxBufferedBytes: 64 * 1024 * 1024,
      gzipLevel: 4,
      ...options,
    };
  }

  /** Takes one batch; resolves once it is buffered (and, for an end record, archived). */
  async add(batch: RecordBatch): Promise<void> {
    this.#throwIfFailed();
    const generation = this.#generation;
    for (const { offset, record } of batch.records) {
      const target = record === undefined ? undefined : recordTarget(record);
      if (record !== undefined && target !== undefined) {
        const state = this.#attempts.get(attemptId(target)) ?? (await this.#lookUp(target));
        if (generation !== this.#generation) return;
        if (record.type === 'lines') {
          const at = { partition: batch.partition, offset };
          for (const line of record.lines) this.#append(state, line, at);
        } else {
          await this.#end(state, record.end);
        }
        if (generation !== this.#generation) return;
      }
      this.#consumed.set(batch.partition, offset + 1);
    }
    this.#consumed.set(batch.partition, Math.max(this.#consumed.get(batch.partition) ?? 0, batch.nextOffset));
    while (this.#writes.size >= this.#options.maxConcurrentWrites) await Promise.race(this.#writes);
    this.#throwIfFailed();
  }

  /** Starts writing buffers older than `flushMs` (every buffer when `all`). */
  flushDue(all = false): void {
    const now = Date.now();
    for (const [id, state] of this.#attempts) {
      if (state.pending !== undefined && (all || now - state.pending.startedAt >= this.#options.flushMs)) {
        this.#flush(state);
      } else if (
        state.pending === undefined &&
        state.writes.size === 0 &&
        now - state.touchedAt > IDLE_FORGET_MS
      ) {
        this.#attempts.delete(id);
      }
    }
  }

  /** Waits for every write in flight; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
    this.#throwIfFailed();
  }

  /** Per partition, the next offset to read after a restart without losing a line. */
  safeOffsets(): Map<number, number> {
    const safe = new Map(this.#consumed);
    for (const hold of this.#holds) {
      const current = safe.get(hold.partition);
      if (current === undefined || hold.offset < current) safe.set(hold.partition, hold.offset);
    }
    return safe;
  }

  /** Forgets everything buffered (after a rebalance: the bus re-delivers from the committed offsets). */
  reset(): void {
    this.#generation++;
    this.#attempts.clear();
    this.#consumed.clear();
    this.#holds.clear();
    this.#bufferedBytes = 0;
    this.#failure = undefined;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  #append(state: AttemptState, line: LogLine, at: Hold): void {
    state.touchedAt = Date.now();
    if (line.seq <= state.takenSeq) return; // re-delivered after a restart, or a duplicate
    state.takenSeq = line.seq;
    if (state.pending === undefined) {
      // A hold of its own: a frame's lines can span buffers, each released when it is stored.
      const hold = { partition: at.partition, offset: at.offset };
      state.pending = { lines: [], bytes: 0, firstSeq: line.seq, startedAt: Date.now(), hold };
      this.#holds.add(hold);
    }
    const json = serializeLine(line);
    state.pending.lines.push(json);
    state.pending.bytes += json.length;
    this.#bufferedBytes += json.length;
    if (state.pending.bytes >= this.#options.flushBytes) this.#flush(state);
    else if (this.#bufferedBytes > this.#options.maxBufferedBytes) this.#flushLargest();
  }

  async #end(state: AttemptState, end: LogEnd): Promise<void> {
    this.#flush(state);
    await Promise.all(state.writes);
    this.#throwIfFailed();
    const { objects, prefix } = this.#options;
    const chunks = await listChunks(objects, state.target, prefix);
    const manifest: LogManifest = {
      buildId: end.buildId,
      jobKey: end.jobKey,
      attempt: end.attempt,
      lastSeq: Math.max(end.lastSeq, state.takenSeq),
      endedAt: end.ts,
      archivedAt: Date.now(),
      chunks,
    };
    await objects.put(manifestKey(state.target, prefix), Buffer.from(JSON.stringify(manifest)), {
      contentType: 'application/json',
    });
    this.#attempts.delete(attemptId(state.target));
  }

  /** Hands an attempt's buffer to a background write; its hold is released once it is stored. */
  #flush(state: AttemptState): void {
    const pending = state.pending;
    if (pending === undefined) return;
    state.pending = undefined;
    this.#bufferedBytes -= pending.bytes;
    const { objects, prefix, gzipLevel } = this.#options;
    const key = chunkKey(state.target, pending.firstSeq, prefix);
    const write = encodeChunk(pending.lines, gzipLevel)
      .then((body) => objects.put(key, body, { contentType: CHUNK_CONTENT_TYPE }))
      .then(
        () => {
          this.#holds.delete(pending.hold);
          this.#options.onWritten?.();
        },
        (err: unknown) => {
          this.#failure ??= new Error(`cannot write log chunk ${key}: ${String(err)}`, { cause: err });
        },
      )
      .finally(() => {
        state.writes.delete(write);
        this.#writes.delete(write);
      });
    state.writes.add(write);
    this.#writes.add(write);
  }

  #flushLargest(): void {
    let largest: AttemptState | undefined;
    for (const state of this.#attempts.values()) {
      if (state.pending !== undefined && state.pending.bytes > (largest?.pending?.bytes ?? 0))
        largest = state;
    }
    if (largest !== undefined) this.#flush(largest);
  }

  /**
   * First sight of an attempt (new, or after a restart): what is already archived, so that lines
   * re-delivered from uncommitted offsets are not written twice.
   */
  async #lookUp(target: LogTarget): Promise<AttemptState> {
    const { objects, prefix } = this.#options;
    let takenSeq = 0;
    const chunks = await listChunks(objects, target, prefix);
    const last = chunks.at(-1);
    if (last !== undefined) {
      const manifest = await readManifest(objects, target, prefix);
      if (manifest !== undefined) takenSeq = manifest.lastSeq;
      else for await (const line of readChunk(objects, last.key)) takenSeq = Math.max(takenSeq, line.seq);
    }
    const id = attemptId(target);
    const existing = this.#attempts.get(id);
    if (existing !== undefined) return existing;
    const target_ = { buildId: target.buildId, jobKey: target.jobKey, attempt: target.attempt };
    const state: AttemptState = {
      target: target_,
      takenSeq,
      pending: undefined,
      writes: new Set(),
      touchedAt: Date.now(),
    };
    this.#attempts.set(id, state);
    return state;
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}
