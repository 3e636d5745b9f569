/**
 * Live tail over Kafka: one consumer per process (its own throwaway group, never committing) fans
 * the records out to every subscriber in the process. It reads only the partitions that have
 * subscribers (the others stay paused). A new subscriber starts at the archiver group's committed
 * offset for its job's partition — below it everything is archived — so archive + tail never leave
 * a gap; the consumer seeks back there when it is further along, and subscribers already reading
 * the partition skip the offsets they have seen.
 */
import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import {
  createKafka,
  DEFAULT_ARCHIVER_GROUP,
  DEFAULT_LOGS_TOPIC,
  partitionFor,
  type KafkaConnection,
} from './kafka-client.ts';
import { decodeRecord, sameAttempt, type LogRecord } from './log-records.ts';
import type { LogTail, LogTarget, TailHandlers } from './port.ts';

export interface KafkaLogTailOptions extends KafkaConnection {
  /** @default 'kiln.logs' */
  topic?: string;
  /** Whose committed offsets mark what is archived. @default 'kiln-log-archiver' */
  archiverGroupId?: string;
  /** Longest a fetch waits for new records (bounds how late a seek or resume takes effect). @default 100 */
  maxWaitMs?: number;
  kafka?: Kafka;
}

/** One subscription's place in the stream. */
export class TailSubscriber {
  readonly target: LogTarget;
  readonly handlers: TailHandlers;
  /** Next offset (Kafka) or index (in-process bus) this subscriber has not seen. */
  nextOffset: number;
  #nextSeq: number;
  #done = false;

  constructor(target: LogTarget, fromSeq: number, startOffset: number, handlers: TailHandlers) {
    this.target = target;
    this.handlers = handlers;
    this.nextOffset = startOffset;
    this.#nextSeq = fromSeq;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Offers one record at `offset`; delivers it when new and about this attempt. */
  offer(offset: number, record: LogRecord | undefined): void {
    if (this.#done || offset < this.nextOffset) return;
    this.nextOffset = offset + 1;
    if (record === undefined) return;
    if (record.type === 'lines') {
      const first = record.lines[0];
      if (first === undefined || !sameAttempt(first, this.target)) return;
      for (const line of record.lines) {
        if (line.seq < this.#nextSeq) continue;
        this.#nextSeq = line.seq + 1;
        this.#call(() => this.handlers.onLine(line));
      }
    } else if (sameAttempt(record.end, this.target)) {
      this.#done = true;
      this.#call(() => this.handlers.onEnd?.(record.end));
    }
  }

  fail(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#call(() => this.handlers.onError?.(error));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      console.error('log tail subscriber failed:', err);
    }
  }
}

/**
 * Lifecycle: `subscribe` starts the consumer on first use (joining takes a moment); `stop` leaves
 * and ends every subscription with `onError`.
 */
export class KafkaLogTail implements LogTail {
  readonly #topic: string;
  readonly #archiverGroupId: string;
  readonly #consumer: Consumer;
  readonly #admin: Admin;
  #started: Promise<void> | undefined;
  #partitions = 0;
  #subscribers = new Map<number, Set<TailSubscriber>>();
  /** Next offset the consumer will deliver, per partition being read; absent when paused. */
  #position = new Map<number, number>();

  constructor(options: KafkaLogTailOptions) {
    this.#topic = options.topic ?? DEFAULT_LOGS_TOPIC;
    this.#archiverGroupId = options.archiverGroupId ?? DEFAULT_ARCHIVER_GROUP;
    const kafka = options.kafka ?? createKafka(options);
    this.#admin = kafka.admin();
    this.#consumer = kafka.consumer({
      groupId: `kiln-tail-${randomUUID()}`,
      maxWaitTimeInMs: options.maxWaitMs ?? 100,
      sessionTimeout: 30_000,
    });
  }

  async subscribe(target: LogTarget, fromSeq: number, handlers: TailHandlers): Promise<() => void> {
    await this.#start();
    const partition = partitionFor(target, this.#partitions);
    const startOffset = await this.#archivedOffset(partition);
    // From here to the return nothing awaits: no batch is handled in between.
    const subscriber = new TailSubscriber(target, fromSeq, startOffset, handlers);
    const position = this.#position.get(partition);
    if (position === undefined || startOffset < position) {
      this.#consumer.seek({ topic: this.#topic, partition, offset: String(startOffset) });
      this.#position.set(partition, startOffset);
      this.#consumer.resume([{ topic: this.#topic, partitions: [partition] }]);
    }
    const subscribers = this.#subscribers.get(partition) ?? new Set();
    subscribers.add(subscriber);
    this.#subscribers.set(partition, subscribers);
    return () => {
      subscribers.delete(subscriber);
      if (subscribers.size === 0 && this.#subscribers.get(partition) === subscribers) {
        this.#subscribers.delete(partition);
        this.#pause(partition);
      }
    };
  }

  async stop(): Promise<void> {
    const started = this.#started;
    this.#started = undefined;
    if (started === undefined) return;
    await started.catch(() => undefined);
    for (const subscribers of this.#subscribers.values()) {
      for (const subscriber of subscribers) subscriber.fail(new Error('the log tail stopped'));
    }
    this.#subscribers.clear();
    await Promise.allSettled([this.#consumer.disconnect(), this.#admin.disconnect()]);
  }

  #start(): Promise<void> {
    this.#started ??= (async () => {
      await this.#admin.connect();
      const metadata = await this.#admin.fetchTopicMetadata({ topics: [this.#topic] });
      this.#partitions = metadata.topics[0]?.partitions.length ?? 0;
      if (this.#partitions === 0) throw new Error(`Kafka topic ${this.#topic} has no partitions`);
      const joined = new Promise<void>((resolve) =>
        this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => {
          this.#onJoin();
          resolve();
        }),
      );
      await this.#consumer.connect();
      await this.#consumer.subscribe({ topic: this.#topic, fromBeginning: false });
      await this.#consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, isStale }) => {
          if (isStale()) return;
          const subscribers = this.#subscribers.get(batch.partition);
          for (const message of batch.messages) {
            if (subscribers === undefined || subscribers.size === 0) break;
            const offset = Number(message.offset);
            const record = decodeRecord(message.value);
            for (const subscriber of subscribers) subscriber.offer(offset, record);
          }
          if (this.#position.has(batch.partition)) {
            this.#position.set(batch.partition, Number(batch.lastOffset()) + 1);
          }
        },
      });
      await joined;
    })();
    return this.#started;
  }

  /** After every (re)join: read only partitions with subscribers, from where they left off. */
  #onJoin(): void {
    this.#position.clear();
    for (let partition = 0; partition < this.#partitions; partition++) {
      const subscribers = this.#subscribers.get(partition);
      if (subscribers === undefined || subscribers.size === 0) {
        this.#pause(partition);
        continue;
      }
      const from = Math.min(...[...subscribers].map((s) => s.nextOffset));
      this.#consumer.seek({ topic: this.#topic, partition, offset: String(from) });
      this.#position.set(partition, from);
    }
  }

  #pause(partition: number): void {
    this.#position.delete(partition);
    this.#consumer.pause([{ topic: this.#topic, partitions: [partition] }]);
  }

  /** The archiver's committed offset of a partition, or the partition's oldest record. */
  async #archivedOffset(partition: number): Promise<number> {
    const [committed] = await this.#admin.fetchOffsets({
      groupId: this.#archiverGroupId,
      topics: [this.#topic],
    });
    const offset = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
    if (offset >= 0) return offset;
    const bounds = await this.#admin.fetchTopicOffsets(this.#topic);
    return Number(bounds.find((p) => p.partition === partition)?.low ?? 0);
  }
}
