/**
 * The embedded log bus: Kafka's model (one ordered partition, consumer groups with committed
 * offsets) in the memory of one process. It gives the same sink (normalized lines, an end record on
 * close), the same live tail and the same archiver record source as Kafka, so the archiver and the
 * readers work unchanged on it — for a single-process stack and for tests. Records below every
 * group's committed offset are dropped; without any group, only the newest `maxRecords` are kept.
 */
import type { RecordBatch } from './archive-buffer.ts';
import type { LogRecordSource } from './archiver.ts';
import { DEFAULT_ARCHIVER_GROUP } from './kafka-client.ts';
import { frames, LineNormalizer, type LogRecord } from './log-records.ts';
import { TailSubscriber } from './live-tail.ts';
import type { LogLine, LogSink, LogSinkFactory, LogTail, LogTarget, TailHandlers } from './port.ts';

export interface MemoryLogBusOptions {
  /** Whose committed offset marks what is archived (where tails start). @default 'kiln-log-archiver' */
  archiverGroupId?: string;
  /** Records kept while no group has committed. @default 100000 */
  maxRecords?: number;
  /** Records per batch handed to a group member. @default 1000 */
  batchSize?: number;
}

export class MemoryLogBus implements LogTail {
  readonly #archiverGroupId: string;
  readonly #maxRecords: number;
  readonly #batchSize: number;
  #records: LogRecord[] = [];
  /** Offset of `#records[0]`. */
  #base = 0;
  #committed = new Map<string, number>();
  #subscribers = new Set<TailSubscriber>();
  #wakeUps = new Set<() => void>();

  constructor(options: MemoryLogBusOptions = {}) {
    this.#archiverGroupId = options.archiverGroupId ?? DEFAULT_ARCHIVER_GROUP;
    this.#maxRecords = options.maxRecords ?? 100_000;
    this.#batchSize = options.batchSize ?? 1_000;
  }

  /** Opens the sink of one attempt: `write` and `close` take effect before they resolve. */
  readonly factory: LogSinkFactory = (target) => new MemoryLogSink(this, target);

  /** Publishes an attempt's end on behalf of a writer that cannot (see `KafkaLogSinks.end`). */
  async end(target: LogTarget, lastSeq = 0): Promise<void> {
    this.publish([{ type: 'end', end: { ...pick(target), lastSeq, ts: Date.now() } }]);
  }

  async subscribe(target: LogTarget, fromSeq: number, handlers: TailHandlers): Promise<() => void> {
    const start = Math.max(this.#base, this.#committed.get(this.#archiverGroupId) ?? this.#base);
    const subscriber = new TailSubscriber(pick(target), fromSeq, start, handlers);
    for (let offset = start; offset < this.#end() && !subscriber.done; offset++) {
      subscriber.offer(offset, this.#records[offset - this.#base]);
    }
    this.#subscribers.add(subscriber);
    return () => void this.#subscribers.delete(subscriber);
  }

  /** A member of consumer group `groupId` (one member per group), for the archiver. */
  source(groupId = this.#archiverGroupId): LogRecordSource {
    return new MemoryRecordSource(this, groupId, this.#batchSize);
  }

  /** @internal Appends records and hands them to live subscribers and waiting group members. */
  publish(records: LogRecord[]): void {
    for (const record of records) {
      const offset = this.#end();
      this.#records.push(record);
      for (const subscriber of this.#subscribers) subscriber.offer(offset, record);
    }
    if (this.#committed.size === 0 && this.#records.length > this.#maxRecords) {
      this.#trim(this.#end() - this.#maxRecords);
    }
    const wakeUps = [...this.#wakeUps];
    this.#wakeUps.clear();
    for (const wake of wakeUps) wake();
  }

  /** @internal Records from `offset` (at most `limit`), and the offset they start at. */
  read(offset: number, limit: number): { from: number; records: LogRecord[] } {
    const from = Math.max(offset, this.#base);
    return { from, records: this.#records.slice(from - this.#base, from - this.#base + limit) };
  }

  /** @internal Resolves when a record past `offset` exists (or at once when one does). */
  waitPast(offset: number): { promise: Promise<void>; cancel(): void } {
    if (offset < this.#end()) return { promise: Promise.resolve(), cancel: () => {} };
    let wake = (): void => {};
    const promise = new Promise<void>((resolve) => {
      wake = resolve;
      this.#wakeUps.add(resolve);
    });
    return {
      promise,
      cancel: () => {
        this.#wakeUps.delete(wake);
        wake();
      },
    };
  }

  /** @internal */
  committed(groupId: string): number | undefined {
    return this.#committed.get(groupId);
  }

  /** @internal */
  commit(groupId: string, offset: number): void {
    if (offset <= (this.#committed.get(groupId) ?? -1)) return;
    this.#committed.set(groupId, offset);
    this.#trim(Math.min(...this.#committed.values()));
  }

  #end(): number {
    return this.#base + this.#records.length;
  }

  #trim(below: number): void {
    const drop = Math.min(below - this.#base, this.#records.length);
    if (drop <= 0) return;
    this.#records = this.#records.slice(drop);
    this.#base += drop;
  }
}

class MemoryLogSink implements LogSink {
  readonly #bus: MemoryLogBus;
  readonly #target: LogTarget;
  readonly #normalizer = new LineNormalizer();
  #closed = false;

  constructor(bus: MemoryLogBus, target: LogTarget) {
    this.#bus = bus;
    this.#target = pick(target);
  }

  async write(lines: LogLine[]): Promise<void> {
    if (this.#closed)
      throw new Error(`the log sink of ${this.#target.buildId}/${this.#target.jobKey} is closed`);
    const normalized = this.#normalizer.normalize(lines, this.#target);
    this.#bus.publish(frames(normalized));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#bus.publish([
      { type: 'end', end: { ...this.#target, lastSeq: this.#normalizer.lastSeq, ts: Date.now() } },
    ]);
  }
}

class MemoryRecordSource implements LogRecordSource {
  readonly #bus: MemoryLogBus;
  readonly #groupId: string;
  readonly #batchSize: number;
  #running: Promise<void> | undefined;
  #stopping = false;
  #cancelWait: (() => void) | undefined;

  constructor(bus: MemoryLogBus, groupId: string, batchSize: number) {
    this.#bus = bus;
    this.#groupId = groupId;
    this.#batchSize = batchSize;
  }

  async start(handlers: { onBatch(batch: RecordBatch): Promise<void>; onAssign(): void }): Promise<void> {
    if (this.#running !== undefined) return;
    this.#stopping = false;
    handlers.onAssign();
    this.#running = this.#loop(handlers);
  }

  async commit(offsets: Map<number, number>): Promise<void> {
    const offset = offsets.get(0);
    if (offset !== undefined && !this.#stopping) this.#bus.commit(this.#groupId, offset);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#cancelWait?.();
    await this.#running;
    this.#running = undefined;
  }

  async #loop(handlers: { onBatch(batch: RecordBatch): Promise<void>; onAssign(): void }): Promise<void> {
    let next = this.#bus.committed(this.#groupId) ?? 0;
    while (!this.#stopping) {
      const { from, records } = this.#bus.read(next, this.#batchSize);
      if (records.length > 0) {
        const batch = records.map((record, i) => ({ offset: from + i, record }));
        try {
          await handlers.onBatch({ partition: 0, records: batch, nextOffset: from + records.length });
          next = from + records.length;
        } catch (err) {
          // Like a consumer restart: forget, and re-read from the last commit.
          console.error('log archiver batch failed, re-reading from the last commit:', err);
          handlers.onAssign();
          next = this.#bus.committed(this.#groupId) ?? 0;
          await new Promise((r) => setTimeout(r, 200));
        }
        continue;
      }
      const wait = this.#bus.waitPast(next);
      this.#cancelWait = wait.cancel;
      await wait.promise;
      this.#cancelWait = undefined;
    }
  }
}

function pick(target: LogTarget): LogTarget {
  return { buildId: target.buildId, jobKey: target.jobKey, attempt: target.attempt };
}
