/** What the Kafka log adapters share: the client, the topic, and where a job's records go. */
import { Kafka, logLevel, Partitioners, type Admin, type KafkaConfig } from 'kafkajs';
import { recordKey } from './log-records.ts';
import type { LogTarget } from './port.ts';

/** @default topic of log records */
export const DEFAULT_LOGS_TOPIC = 'kiln.logs';
/** @default consumer group of the archiver */
export const DEFAULT_ARCHIVER_GROUP = 'kiln-log-archiver';

export interface KafkaConnection {
  brokers: string[];
  /** @default 'kiln' */
  clientId?: string;
  /** Extra client settings (TLS, SASL, timeouts). */
  config?: Omit<KafkaConfig, 'brokers' | 'clientId'>;
}

/** A kafkajs client that logs errors only (kafkajs is chatty at INFO). */
export function createKafka(connection: KafkaConnection): Kafka {
  return new Kafka({
    logLevel: logLevel.ERROR,
    ...connection.config,
    brokers: connection.brokers,
    clientId: connection.clientId ?? 'kiln',
  });
}

const partitioner = Partitioners.DefaultPartitioner();

/** The partition the producer's default (Java-compatible murmur2) partitioner picks for a job. */
export function partitionFor(target: LogTarget, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
    partitionErrorCode: 0,
  }));
  return partitioner({ topic: '', partitionMetadata, message: { key: recordKey(target), value: null } });
}

export interface EnsureLogsTopicOptions extends KafkaConnection {
  /** @default 'kiln.logs' */
  topic?: string;
  /** @default 12 */
  partitions?: number;
  /** @default 1 */
  replicationFactor?: number;
  /** How long Kafka keeps records (the archive keeps them for good). @default 3 days */
  retentionMs?: number;
}

/** Creates the logs topic when it does not exist (an existing one is left as it is). */
export async function ensureLogsTopic(options: EnsureLogsTopicOptions): Promise<void> {
  const admin = createKafka(options).admin();
  await admin.connect();
  try {
    await createTopicIfMissing(admin, options);
  } finally {
    await admin.disconnect();
  }
}

async function createTopicIfMissing(admin: Admin, options: EnsureLogsTopicOptions): Promise<void> {
  const topic = options.topic ?? DEFAULT_LOGS_TOPIC;
  if ((await admin.listTopics()).includes(topic)) return;
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      {
        topic,
        numPartitions: options.partitions ?? 12,
        replicationFactor: options.replicationFactor ?? 1,
        configEntries: [
          { name: 'retention.ms', value: String(options.retentionMs ?? 3 * 24 * 3600_000) },
          { name: 'compression.type', value: 'producer' },
        ],
      },
    ],
  });
}
