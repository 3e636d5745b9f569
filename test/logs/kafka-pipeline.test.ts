import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchivedLogStore } from '../../adapters/logs/archived-log-store.ts';
import { createLogArchiver } from '../../adapters/logs/archiver.ts';
import { listChunks, readChunk } from '../../adapters/logs/chunks.ts';
import { ensureLogsTopic, partitionFor } from '../../adapters/logs/kafka-client.ts';
import { KafkaLogSinks } from '../../adapters/logs/kafka-log-sink.ts';
import { KafkaLogTail } from '../../adapters/logs/live-tail.ts';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';
import { startKafka, type RunningKafka } from '../../infra/dev/kafka.ts';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';
import { eventually, isAlive } from '../helpers/processes.ts';
import { logPipelineContract, makeLines, newTarget, readArchive } from './pipeline-contract.ts';

let kafka: RunningKafka;
let s3: RunningS3;
let objects: S3ObjectStore;

beforeAll(async () => {
  const progress = (m: string) => console.log(`[servers] ${m}`);
  const [k, s] = await Promise.allSettled([
    startKafka({ onProgress: progress }),
    startS3({ onProgress: progress }),
  ]);
  if (k.status === 'fulfilled') kafka = k.value;
  if (s.status === 'fulfilled') s3 = s.value;
  if (k.status === 'rejected') throw k.reason;
  if (s.status === 'rejected') throw s.reason;
  objects = new S3ObjectStore({
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
  });
}, 600_000); // the first run on a machine fetches Kafka and builds MinIO (minutes)
afterAll(async () => {
  objects?.destroy();
  await Promise.all([kafka?.stop(), s3?.stop()]);
});

/** A fresh topic and archiver group per test, on the shared servers. */
async function freshTopic(): Promise<{ topic: string; groupId: string }> {
  const topic = `logs-${randomUUID().slice(0, 8)}`;
  await ensureLogsTopic({ brokers: kafka.brokers, topic, partitions: 3 });
  return { topic, groupId: `archiver-${topic}` };
}

logPipelineContract('Kafka + S3 (MinIO)', async () => {
  const { topic, groupId } = await freshTopic();
  const sinks = new KafkaLogSinks({ brokers: kafka.brokers, topic });
  const tail = new KafkaLogTail({ brokers: kafka.brokers, topic, archiverGroupId: groupId });
  return {
    factory: sinks.factory,
    tail,
    objects,
    archiver: (options) => createLogArchiver({ brokers: kafka.brokers, topic, groupId, objects, ...options }),
    dispose: async () => {
      await Promise.all([sinks.close(), tail.stop()]);
    },
  };
});

describe('Kafka log pipeline', () => {
  it('keeps every line exactly once, in order, when the archiver process is killed mid-stream', async () => {
    const { topic, groupId } = await freshTopic();
    const sinks = new KafkaLogSinks({ brokers: kafka.brokers, topic });
    const target = newTarget();
    const sink = sinks.factory(target);
    const childOptions = {
      brokers: kafka.brokers,
      topic,
      groupId,
      s3: { endpoint: s3.endpoint, bucket: s3.bucket, accessKey: s3.accessKey, secretKey: s3.secretKey },
      flushMs: 200,
      flushBytes: 16 * 1024,
      // Kafka's least: the killed member's partitions move to the new one after this long.
      sessionTimeoutMs: 6_000,
    };
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'archiver-child.ts'), JSON.stringify(childOptions)],
      {
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    let seq = 1;
    const writeBatch = async () => {
      await sink.write(makeLines(target, seq, 100));
      seq += 100;
    };
    const restarted = createLogArchiver({ ...childOptions, objects });
    try {
      // Write until the child has archived part of the log, then kill it without warning.
      expect(
        await eventually(async () => {
          await writeBatch();
          return (await listChunks(objects, target)).length >= 3;
        }, 60_000),
      ).toBe(true);
      for (let i = 0; i < 5; i++) await writeBatch();
      child.kill('SIGKILL');
      expect(await eventually(() => child.pid !== undefined && !isAlive(child.pid), 5_000)).toBe(true);
      for (let i = 0; i < 5; i++) await writeBatch();
      await restarted.start();
      for (let i = 0; i < 5; i++) await writeBatch();
      await sink.close();
      const total = seq - 1;
      const archive = new ArchivedLogStore({ objects });
      expect(await eventually(async () => (await archive.manifest(target)) !== undefined, 30_000)).toBe(true);
      const lines = await readArchive(objects, target);
      expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      let stored = 0;
      for (const chunk of await listChunks(objects, target))
        for await (const _ of readChunk(objects, chunk.key)) stored++;
      console.log(
        `archiver killed: ${total} lines archived once each; ${stored - total} duplicate lines in the raw chunks`,
      );
    } finally {
      child.kill('SIGKILL');
      await restarted.stop();
      await sinks.close();
    }
  });

  it('places a job on the partition the producer picks', async () => {
    const { topic } = await freshTopic();
    const sinks = new KafkaLogSinks({ brokers: kafka.brokers, topic });
    const tail = new KafkaLogTail({ brokers: kafka.brokers, topic });
    try {
      // Every one of 3 partitions is used and tails on each of them see their own job only.
      const targets = Array.from({ length: 6 }, (_, i) => newTarget(`job-${i}`));
      expect(new Set(targets.map((t) => partitionFor(t, 3))).size).toBeGreaterThan(1);
      const seen = new Map<string, number>();
      const unsubscribes = await Promise.all(
        targets.map((t) =>
          tail.subscribe(t, 1, { onLine: (l) => seen.set(l.jobKey, (seen.get(l.jobKey) ?? 0) + 1) }),
        ),
      );
      await Promise.all(targets.map((t) => sinks.factory(t).write(makeLines(t, 1, 5))));
      expect(await eventually(() => targets.every((t) => seen.get(t.jobKey) === 5), 10_000)).toBe(true);
      for (const unsubscribe of unsubscribes) unsubscribe();
    } finally {
      await Promise.all([sinks.close(), tail.stop()]);
    }
  });
});
