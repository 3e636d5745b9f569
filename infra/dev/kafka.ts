/**
 * A real Kafka for tests, benchmarks and local use: Apache Kafka in KRaft mode (one process that is
 * both broker and controller), from the release jars. The jars are fetched once with Maven
 * (`dependency:copy-dependencies` over a generated pom) into `~/.cache/kiln/kafka-<version>/libs`,
 * then each start formats a temporary log directory with `kafka.tools.StorageTool` and runs
 * `kafka.Kafka` on free ports of 127.0.0.1 with a small heap.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { cachedEntry } from './cache.ts';
import { freePort, runCommand, startServerProcess, waitUntilReady } from './server-process.ts';

/** The Kafka release Kiln is tested with. */
export const KAFKA_VERSION = '3.9.2';
const SCALA_VERSION = '2.13';

export interface StartKafkaOptions {
  /**
   * Partitions of automatically created topics.
   * @default 4
   */
  partitions?: number;
  /** Root of the download cache. @default ~/.cache/kiln */
  cacheDir?: string;
  /** Called with one line per step. */
  onProgress?: (message: string) => void;
}

export interface RunningKafka {
  /** `['127.0.0.1:<port>']`. */
  brokers: string[];
  /** Stops the broker and removes its data. Safe to call twice. */
  stop(): Promise<void>;
}

/** Directory of the Kafka jars (and their runtime dependencies), fetching them when missing. */
export async function obtainKafka(
  options: Pick<StartKafkaOptions, 'cacheDir' | 'onProgress'> = {},
): Promise<string> {
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const { dir, built } = await cachedEntry({
    name: 'kafka',
    version: KAFKA_VERSION,
    marker: 'libs/.complete',
    cacheDir: options.cacheDir,
    build: async (work) => {
      progress(`fetching the Kafka ${KAFKA_VERSION} jars with Maven (first time only)…`);
      await writeFile(join(work, 'pom.xml'), pom());
      await runCommand(
        'mvn',
        [
          '-B',
          '-q',
          `-Dmaven.repo.local=${join(work, 'm2')}`,
          'dependency:copy-dependencies',
          '-DincludeScope=runtime',
          `-DoutputDirectory=${join(work, 'libs')}`,
        ],
        { what: 'mvn dependency:copy-dependencies', cwd: work },
      );
      await rm(join(work, 'm2'), { recursive: true, force: true });
      await writeFile(join(work, 'libs', '.complete'), `${KAFKA_VERSION}\n`);
    },
  });
  if (built) progress(`Kafka jars ready in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return join(dir, 'libs');
}

/** Starts a single-node KRaft Kafka on free ports of 127.0.0.1; resolves once it serves metadata. */
export async function startKafka(options: StartKafkaOptions = {}): Promise<RunningKafka> {
  const progress = options.onProgress ?? (() => {});
  const libs = await obtainKafka(options);
  const started = Date.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-kafka-'));
  const port = await freePort();
  const controllerPort = await freePort();
  const config = join(dataDir, 'server.properties');
  await mkdir(join(dataDir, 'log'));
  await writeFile(
    config,
    serverProperties({ port, controllerPort, logDir: join(dataDir, 'log'), ...options }),
  );
  await writeFile(join(dataDir, 'log4j.properties'), LOG4J);
  const classpath = join(libs, '*');
  const jvm = [
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${join(dataDir, 'log4j.properties')}`,
    '-cp',
    classpath,
  ];
  // A Kafka cluster id is 16 random bytes in unpadded base64url, not starting with '-' (read as an option).
  let clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  // The formatter runs for a second: the quick JIT tier is all it needs.
  await runCommand(
    'java',
    [...jvm, '-XX:TieredStopAtLevel=1', 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', config],
    {
      what: 'kafka StorageTool format',
    },
  );
  progress(`Kafka storage formatted in ${Date.now() - started} ms`);
  const server = startServerProcess('java', [...jvm, 'kafka.Kafka', config]);
  const brokers = [`127.0.0.1:${port}`];
  const stop = async (): Promise<void> => {
    await server.stop('SIGTERM', 5_000);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    const client = new Kafka({ clientId: 'kiln-dev', brokers, logLevel: logLevel.NOTHING });
    const admin = client.admin();
    await waitUntilReady(server, 'Kafka', async () => {
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        if (cluster.brokers.length === 0) return false;
        // Asking about a group creates the offsets topic; clients then find their coordinator at once.
        await admin.describeGroups(['kiln-warm-up']);
        return true;
      } finally {
        await admin.disconnect();
      }
    });
    progress(`Kafka serving metadata after ${Date.now() - started} ms`);
    // The first idempotent producer waits for the broker to get a block of producer ids: do it now.
    const producer = client.producer({ idempotent: true, maxInFlightRequests: 1 });
    await waitUntilReady(server, 'Kafka producer ids', async () => {
      try {
        await producer.connect();
        await producer.send({ topic: 'kiln-warm-up', messages: [{ value: 'ready' }] });
        return true;
      } finally {
        await producer.disconnect();
      }
    });
    progress(`Kafka ${KAFKA_VERSION} ready on ${brokers[0]} in ${Date.now() - started} ms`);
    let stopped: Promise<void> | undefined;
    return { brokers, stop: () => (stopped ??= stop()) };
  } catch (err) {
    await stop();
    throw err;
  }
}

function pom(): string {
  const dependency = (artifact: string) =>
    `<dependency><groupId>org.apache.kafka</groupId><artifactId>${artifact}</artifactId><version>${KAFKA_VERSION}</version></dependency>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.kiln</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    ${dependency(`kafka_${SCALA_VERSION}`)}
    ${dependency('kafka-tools')}
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
`;
}

function serverProperties(options: {
  port: number;
  controllerPort: number;
  logDir: string;
  partitions?: number;
}): string {
  const settings: Record<string, string | number> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@127.0.0.1:${options.controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${options.port},CONTROLLER://127.0.0.1:${options.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${options.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': options.logDir,
    'num.partitions': options.partitions ?? 4,
    'auto.create.topics.enable': 'true',
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 4,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    'controlled.shutdown.enable': 'false',
    'num.network.threads': 2,
    'num.io.threads': 2,
    'log.segment.bytes': 64 * 1024 * 1024,
  };
  return Object.entries(settings)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n');
}

/** Warnings and errors only, to stdout (kept for error messages). */
const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
`;
