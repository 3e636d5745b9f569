/**
 * The runner side of the Kafka log bus: one idempotent producer per process, shared by the sinks of
 * every attempt it runs. Lines are normalized (see {@link LineNormalizer}), queued, and sent in
 * gzip-compressed batches keyed by `<build>/<job>`, one request in flight at a time so the
 * idempotent producer keeps per-partition order across retries.
 */
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { createKafka, DEFAULT_LOGS_TOPIC, type KafkaConnection } from './kafka-client.ts';
import {
  encodeRecord,
  frames,
  LineNormalizer,
  recordKey,
  recordTarget,
  type LogRecord,
} from './log-records.ts';
import type { LogLine, LogSink, LogSinkFactory, LogTarget } from './port.ts';

export interface KafkaLogSinksOptions extends KafkaConnection {
  /** @default 'kiln.logs' */
  topic?: string;
  /**
   * Producers working side by side, each with one request in flight; a job always uses the same
   * one, so its order holds. More lanes hide the round trip to the brokers.
   * @default 2
   */
  lanes?: number;
  /** How long a queued line waits for company before its batch is sent. @default 5 */
  lingerMs?: number;
  /**
   * Uncompressed bytes per produce request. Keep it under the brokers' `message.max.bytes` (1 MB
   * by default): incompressible output does not shrink.
   * @default 960 KiB
   */
  batchBytes?: number;
  /** Bytes queued per lane and not yet acknowledged above which `write` waits. @default 8 MiB */
  maxQueuedBytes?: number;
  /** Use this client instead of making one. */
  kafka?: Kafka;
}

interface Queued {
  message: Message;
  bytes: number;
  ticket: number;
}

/**
 * Lifecycle: create once per process; `factory` opens a sink per attempt; `close()` at shutdown
 * sends what is queued and disconnects. A sink's `write` resolves once its lines are queued (it waits
 * only when the queue is full); its `close` resolves once every line and the attempt's end record
 * are acknowledged by Kafka. A send that fails for good (retries exhausted) fails every later call.
 */
export class KafkaLogSinks {
  readonly topic: string;
  readonly #lanes: ProducerLane[];

  constructor(options: KafkaLogSinksOptions) {
    this.topic = options.topic ?? DEFAULT_LOGS_TOPIC;
    const kafka = options.kafka ?? createKafka(options);
    const settings = {
      topic: this.topic,
      lingerMs: options.lingerMs ?? 5,
      batchBytes: options.batchBytes ?? 960 * 1024,
      maxQueuedBytes: options.maxQueuedBytes ?? 8 * 1024 * 1024,
    };
    this.#lanes = Array.from(
      { length: Math.max(1, options.lanes ?? 2) },
      () => new ProducerLane(kafka, settings),
    );
  }

  /** Opens the sink of one attempt. */
  readonly factory: LogSinkFactory = (target) => new KafkaLogSink(this.lane(target), target);

  /**
   * Publishes an attempt's end record on behalf of a writer that cannot (its runner died), so the
   * archiver writes the manifest and live readers stop. Lines the dead writer still sends after
   * it are archived but not listed in the manifest.
   */
  async end(target: LogTarget, lastSeq = 0): Promise<void> {
    const end = {
      buildId: target.buildId,
      jobKey: target.jobKey,
      attempt: target.attempt,
      lastSeq,
      ts: Date.now(),
    };
    const lane = this.lane(target);
    await lane.waitFor(lane.enqueue([{ type: 'end', end }]));
  }

  /** Sends everything queued and disconnects. */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((lane) => lane.close()));
  }

  /** @internal The lane of a job: the same for all its attempts. */
  lane(target: LogTarget): ProducerLane {
    return this.#lanes[hash(recordKey(target)) % this.#lanes.length] as ProducerLane;
  }
}

/** One idempotent producer with its queue and its single request in flight. */
class ProducerLane {
  readonly #producer: Producer;
  readonly #topic: string;
  readonly #lingerMs: number;
  readonly #batchBytes: number;
  readonly #maxQueuedBytes: number;
  #connected: Promise<void> | undefined;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #issued = 0;
  #acked = 0;
  #waiters: { ticket: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #sending = false;
  #timer: NodeJS.Timeout | undefined;
  #failure: unknown;

  constructor(
    kafka: Kafka,
    settings: { topic: string; lingerMs: number; batchBytes: number; maxQueuedBytes: number },
  ) {
    this.#topic = settings.topic;
    this.#lingerMs = settings.lingerMs;
    this.#batchBytes = settings.batchBytes;
    this.#maxQueuedBytes = settings.maxQueuedBytes;
    this.#producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
    });
  }

  /** Queues records; returns the ticket to wait for their acknowledgement. */
  enqueue(records: LogRecord[]): number {
    this.#throwIfFailed();
    for (const record of records) {
      const target = recordTarget(record);
      if (target === undefined) continue;
      const value = encodeRecord(record);
      const bytes = value.length + 64;
      this.#queue.push({ message: { key: recordKey(target), value }, bytes, ticket: ++this.#issued });
      this.#queuedBytes += bytes;
    }
    this.#kick(this.#queuedBytes >= this.#batchBytes ? 0 : this.#lingerMs);
    return this.#issued;
  }

  /** Waits until the queue has room. */
  async backpressure(): Promise<void> {
    while (this.#queuedBytes > this.#maxQueuedBytes) {
      await this.waitFor(this.#queue[0]?.ticket ?? this.#issued);
    }
  }

  /** Resolves once the record with this ticket (and all before it) is acknowledged. */
  waitFor(ticket: number): Promise<void> {
    this.#throwIfFailed();
    if (ticket <= this.#acked) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ ticket, resolve, reject }));
  }

  async close(): Promise<void> {
    if (this.#issued > this.#acked) await this.waitFor(this.#issued);
    if (this.#connected !== undefined) await this.#producer.disconnect();
    this.#connected = undefined;
  }

  #kick(delayMs: number): void {
    if (this.#sending) return;
    if (delayMs === 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#sendLoop();
    } else {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        void this.#sendLoop();
      }, delayMs);
    }
  }

  async #sendLoop(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      this.#connected ??= this.#producer.connect();
      await this.#connected;
      while (this.#queue.length > 0) {
        let bytes = 0;
        let count = 0;
        for (const entry of this.#queue) {
          if (count > 0 && bytes + entry.bytes > this.#batchBytes) break;
          bytes += entry.bytes;
          count++;
        }
        const batch = this.#queue.slice(0, count);
        await this.#producer.send({
          topic: this.#topic,
          acks: -1,
          compression: CompressionTypes.GZIP,
          messages: batch.map((entry) => entry.message),
        });
        this.#queue.splice(0, count);
        this.#queuedBytes -= bytes;
        this.#acked = batch.at(-1)?.ticket ?? this.#acked;
        this.#settle();
      }
    } catch (err) {
      this.#failure = new Error(`cannot publish log lines to Kafka topic ${this.#topic}: ${String(err)}`, {
        cause: err,
      });
      this.#settle();
    } finally {
      this.#sending = false;
    }
  }

  #settle(): void {
    const waiting = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiting) {
      if (waiter.ticket <= this.#acked) waiter.resolve();
      else if (this.#failure !== undefined) waiter.reject(this.#failure);
      else this.#waiters.push(waiter);
    }
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/** FNV-1a: spreads job keys over the lanes. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The sink of one attempt: normalizes its lines, queues them, ends the attempt on close. */
class KafkaLogSink implements LogSink {
  readonly #bus: ProducerLane;
  readonly #target: LogTarget;
  readonly #normalizer = new LineNormalizer();
  #ticket = 0;
  #closed = false;

  constructor(bus: ProducerLane, target: LogTarget) {
    this.#bus = bus;
    this.#target = { buildId: target.buildId, jobKey: target.jobKey, attempt: target.attempt };
  }

  async write(lines: LogLine[]): Promise<void> {
    if (this.#closed)
      throw new Error(`the log sink of ${this.#target.buildId}/${this.#target.jobKey} is closed`);
    if (lines.length === 0) return;
    await this.#bus.backpressure();
    const normalized = this.#normalizer.normalize(lines, this.#target);
    this.#ticket = this.#bus.enqueue(frames(normalized));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const end = { ...this.#target, lastSeq: this.#normalizer.lastSeq, ts: Date.now() };
    this.#ticket = this.#bus.enqueue([{ type: 'end', end }]);
    await this.#bus.waitFor(this.#ticket);
  }
}

/** A {@link LogSinkFactory} over a shared {@link KafkaLogSinks}; close the returned bus at shutdown. */
export function createKafkaLogSinkFactory(options: KafkaLogSinksOptions): {
  factory: LogSinkFactory;
  bus: KafkaLogSinks;
} {
  const bus = new KafkaLogSinks(options);
  return { factory: bus.factory, bus };
}
