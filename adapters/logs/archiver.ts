/**
 * The log archiver: a consumer group on the logs topic that writes each attempt's lines to the
 * object store as ordered gzip chunks (every `flushMs` or `flushBytes`, whichever comes first), a
 * manifest when the attempt ends, and commits bus offsets only once what lies below them is stored.
 * A crash (or `stop({ flush: false })`) therefore loses nothing: the next member re-reads from the
 * committed offsets, skips what the store already holds, and rewrites any chunk under the same key.
 * Run as many as the topic has partitions; they share the work through the group.
 */
import type { Consumer, Kafka } from 'kafkajs';
import type { ObjectStore } from '../objects/port.ts';
import { ArchiveBuffer, type RecordBatch } from './archive-buffer.ts';
import { createKafka, DEFAULT_ARCHIVER_GROUP, DEFAULT_LOGS_TOPIC } from './kafka-client.ts';
import { decodeRecord } from './log-records.ts';

/**
 * Where the archiver's records come from: a partitioned log read as a member of a consumer group
 * (Kafka; or the in-process bus). Batches of one partition arrive in offset order, the next one only
 * after the previous `onBatch` resolved. After each (re)assignment `onAssign` is called before any
 * batch and delivery restarts from the committed offsets.
 */
export interface LogRecordSource {
  start(handlers: { onBatch(batch: RecordBatch): Promise<void>; onAssign(): void }): Promise<void>;
  /** Commits, per partition, the next offset to read. */
  commit(offsets: Map<number, number>): Promise<void>;
  stop(): Promise<void>;
}

export interface LogArchiverOptions {
  objects: ObjectStore;
  /** Kafka brokers (ignored when `source` is given). */
  brokers?: string[];
  /** @default 'kiln.logs' */
  topic?: string;
  /** @default 'kiln-log-archiver' */
  groupId?: string;
  clientId?: string;
  /** Another record source (the in-process bus) instead of Kafka. */
  source?: LogRecordSource;
  /** @default 5000 */
  flushMs?: number;
  /** @default 1 MiB */
  flushBytes?: number;
  /** Key prefix of the archive. @default 'logs/' */
  prefix?: string;
  /**
   * How long the group waits for a silent member before handing its partitions to the others (a
   * killed archiver's partitions stay unread this long). Kafka allows 6 s at the least.
   * @default 30000
   */
  sessionTimeoutMs?: number;
  /** Called with errors the archiver recovers from (by re-reading from the committed offsets). */
  onError?: (error: unknown) => void;
  kafka?: Kafka;
}

export interface LogArchiver {
  start(): Promise<void>;
  /**
   * `flush: true` (default) writes every buffer and commits before leaving the group; `false`
   * drops the buffers and commits nothing more, like a crash (nothing is lost: the next member
   * re-reads from the last commit).
   */
  stop(options?: { flush?: boolean }): Promise<void>;
}

export function createLogArchiver(options: LogArchiverOptions): LogArchiver {
  const flushMs = options.flushMs ?? 5_000;
  const onError = options.onError ?? ((error: unknown) => console.error('log archiver:', error));
  let source: LogRecordSource | undefined;
  let timer: NodeJS.Timeout | undefined;
  let committed = new Map<number, number>();
  let committing: Promise<void> = Promise.resolve();
  let commitQueued = false;

  const commit = (): Promise<void> => {
    if (commitQueued) return committing;
    commitQueued = true;
    committing = committing.then(async () => {
      commitQueued = false;
      const changed = new Map<number, number>();
      for (const [partition, offset] of buffer.safeOffsets()) {
        if (offset > (committed.get(partition) ?? -1)) changed.set(partition, offset);
      }
      if (changed.size === 0 || source === undefined) return;
      try {
        await source.commit(changed);
        for (const [partition, offset] of changed) committed.set(partition, offset);
      } catch (err) {
        onError(err); // e.g. a rebalance: the next owner re-reads from the last commit
      }
    });
    return committing;
  };

  const buffer = new ArchiveBuffer({
    objects: options.objects,
    flushMs,
    flushBytes: options.flushBytes ?? 1024 * 1024,
    prefix: options.prefix,
    onWritten: () => void commit(),
  });

  return {
    async start() {
      if (source !== undefined) return;
      source =
        options.source ??
        new KafkaRecordSource({
          kafka: options.kafka ?? createKafka({ brokers: options.brokers ?? [], clientId: options.clientId }),
          topic: options.topic ?? DEFAULT_LOGS_TOPIC,
          groupId: options.groupId ?? DEFAULT_ARCHIVER_GROUP,
          onCrash: onError,
          sessionTimeoutMs: options.sessionTimeoutMs ?? 30_000,
        });
      timer = setInterval(
        () => {
          buffer.flushDue();
          void commit();
        },
        Math.max(50, Math.min(1_000, flushMs / 4)),
      );
      await source.start({
        onAssign: () => {
          buffer.reset();
          committed = new Map();
        },
        onBatch: async (batch) => {
          await buffer.add(batch);
          void commit();
        },
      });
    },

    async stop({ flush = true } = {}) {
      clearInterval(timer);
      const running = source;
      if (running === undefined) return;
      try {
        if (flush) {
          buffer.flushDue(true);
          await buffer.drain();
          await commit();
        } else {
          // Commit nothing more; writes already under way may finish (a crash could cut them).
          source = undefined;
          await buffer.drain().catch(() => undefined);
        }
      } finally {
        await running.stop();
        source = undefined;
      }
    },
  };
}

/** The archiver's view of Kafka: a consumer group member with manual commits. */
class KafkaRecordSource implements LogRecordSource {
  readonly #consumer: Consumer;
  readonly #topic: string;
  readonly #onCrash: ((error: Error) => void) | undefined;

  constructor(options: {
    kafka: Kafka;
    topic: string;
    groupId: string;
    sessionTimeoutMs: number;
    onCrash?: (error: Error) => void;
  }) {
    this.#topic = options.topic;
    this.#onCrash = options.onCrash;
    this.#consumer = options.kafka.consumer({
      groupId: options.groupId,
      maxWaitTimeInMs: 250,
      maxBytesPerPartition: 4 * 1024 * 1024,
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, options.sessionTimeoutMs / 3),
    });
  }

  async start(handlers: { onBatch(batch: RecordBatch): Promise<void>; onAssign(): void }): Promise<void> {
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, () => handlers.onAssign());
    this.#consumer.on(this.#consumer.events.CRASH, (event) => this.#onCrash?.(event.payload.error));
    await this.#consumer.connect();
    // A new archiver group starts from the oldest record: nothing produced before it is skipped.
    await this.#consumer.subscribe({ topic: this.#topic, fromBeginning: true });
    await this.#consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch, isStale, heartbeat }) => {
        if (isStale()) return;
        await handlers.onBatch({
          partition: batch.partition,
          records: batch.messages.map((message) => ({
            offset: Number(message.offset),
            record: decodeRecord(message.value),
          })),
          nextOffset: Number(batch.lastOffset()) + 1,
        });
        await heartbeat();
      },
    });
  }

  async commit(offsets: Map<number, number>): Promise<void> {
    await this.#consumer.commitOffsets(
      [...offsets].map(([partition, offset]) => ({ topic: this.#topic, partition, offset: String(offset) })),
    );
  }

  async stop(): Promise<void> {
    await this.#consumer.disconnect();
  }
}
