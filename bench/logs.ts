/**
 * Log pipeline benchmark on the real servers (Kafka in KRaft mode and MinIO, started here):
 *
 * 1. throughput: `--jobs` runner sinks write `--megabytes` of typical CI output (lines of about
 *    120 bytes, in batches of 100 as the supervisor sends them) through Kafka to the archiver (its
 *    own process, default settings: 5 s / 1 MiB chunks) and S3; the clock stops when every
 *    attempt's manifest is stored, so MB/s is end to end, runner to S3. Target: ≥ 12 MB/s.
 * 2. live-tail latency from `sink.write` of a line to the tail's callback: with the pipeline idle,
 *    at the design's sustained load (12 MB/s, 1 TB/day) and, for information, while saturated by
 *    the throughput run (then a line waits behind the producer's full queue). Target: p99 < 1 s.
 *
 * `npx node bench/logs.ts [--megabytes 256] [--jobs 8] [--probes 500] [--lanes 4] [--paced-seconds 15]`
 * Results go to bench/results/logs-<date>.json.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ArchivedLogStore } from '../adapters/logs/archived-log-store.ts';
import { ensureLogsTopic } from '../adapters/logs/kafka-client.ts';
import { KafkaLogSinks } from '../adapters/logs/kafka-log-sink.ts';
import { KafkaLogTail } from '../adapters/logs/live-tail.ts';
import type { LogLine, LogTarget } from '../adapters/logs/port.ts';
import { S3ObjectStore } from '../adapters/objects/s3-object-store.ts';
import { KAFKA_VERSION, startKafka } from '../infra/dev/kafka.ts';
import { MINIO_VERSION, startS3 } from '../infra/dev/minio.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    megabytes: { type: 'string', default: '256' },
    jobs: { type: 'string', default: '8' },
    probes: { type: 'string', default: '500' },
    lanes: { type: 'string', default: '4' },
    'paced-seconds': { type: 'string', default: '15' },
  },
});
const MiB = 1024 * 1024;
const TOTAL_BYTES = Number(values.megabytes) * MiB;
const JOBS = Number(values.jobs);
const PROBES = Number(values.probes);
const LANES = Number(values.lanes);
const PACED_SECONDS = Number(values['paced-seconds']);
const TARGET_MB_S = 12;
const BATCH = 100;
const log = (m: string): void => console.log(`[bench:logs] ${m}`);

const [kafka, s3] = await Promise.all([startKafka({ onProgress: log }), startS3({ onProgress: log })]);
const topic = 'kiln.logs';
const groupId = 'kiln-log-archiver';
await ensureLogsTopic({ brokers: kafka.brokers, topic, partitions: 12 });
const objects = new S3ObjectStore({
  endpoint: s3.endpoint,
  bucket: s3.bucket,
  credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
});
const archive = new ArchivedLogStore({ objects });
const archiverOptions = {
  brokers: kafka.brokers,
  topic,
  groupId,
  s3: { endpoint: s3.endpoint, bucket: s3.bucket, accessKey: s3.accessKey, secretKey: s3.secretKey },
};
const archiver = spawn(
  process.execPath,
  [join(import.meta.dirname, 'logs-archiver.ts'), JSON.stringify(archiverOptions)],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
await new Promise<void>((resolve) =>
  archiver.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve()),
);
const sinks = new KafkaLogSinks({ brokers: kafka.brokers, topic, lanes: LANES });
const tail = new KafkaLogTail({ brokers: kafka.brokers, topic, archiverGroupId: groupId });

const WORDS =
  'compiling linking resolving downloading package module test passed ok cache hit miss warning'.split(' ');
function textOf(job: number, seq: number): string {
  let text = `[${new Date(1_767_225_600_000 + seq * 7).toISOString()}] job-${job} step build: `;
  for (let i = 0; text.length < 110; i++) text += `${WORDS[(seq * 7 + i * 3 + job) % WORDS.length]} `;
  return `${text}#${seq}`;
}

/** Writes one line at a time to a probe attempt and times its arrival at a live tail. */
async function probeLatency(count: number, intervalMs: number): Promise<number[]> {
  const target: LogTarget = { buildId: `probe-${Date.now()}`, jobKey: 'probe', attempt: 1 };
  const sink = sinks.factory(target);
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let arrived = 0;
  const unsubscribe = await tail.subscribe(target, 1, {
    onLine: (line) => {
      latencies.push(performance.now() - (sentAt.get(line.seq) ?? Number.NaN));
      arrived++;
    },
  });
  for (let seq = 1; seq <= count; seq++) {
    sentAt.set(seq, performance.now());
    await sink.write([{ ...target, seq, ts: Date.now(), stream: 'stdout', text: `probe ${seq}` }]);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const deadline = Date.now() + 10_000;
  while (arrived < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  unsubscribe();
  await sink.close();
  return latencies;
}

/** `jobs` attempts writing `bytes` in all, at most `rate` bytes/s in all (unbounded if 0). */
async function produce(
  label: string,
  jobs: number,
  bytes: number,
  rate: number,
): Promise<{ targets: LogTarget[]; lines: number; ms: number }> {
  const targets: LogTarget[] = Array.from({ length: jobs }, (_, i) => ({
    buildId: label,
    jobKey: `job-${i}`,
    attempt: 1,
  }));
  const perJob = bytes / jobs;
  const started = performance.now();
  let lines = 0;
  await Promise.all(
    targets.map(async (target, job) => {
      const sink = sinks.factory(target);
      let written = 0;
      let seq = 1;
      while (written < perJob) {
        const batch: LogLine[] = [];
        for (let i = 0; i < BATCH; i++, seq++) {
          const text = textOf(job, seq);
          written += text.length + 1;
          batch.push({ ...target, seq, ts: Date.now(), stream: 'stdout', text });
        }
        lines += BATCH;
        await sink.write(batch);
        if (rate > 0) {
          const due = started + (written / (rate / jobs)) * 1000;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }
      await sink.close();
    }),
  );
  return { targets, lines, ms: performance.now() - started };
}

async function manifests(targets: LogTarget[]): Promise<void> {
  for (const target of targets) {
    while ((await archive.manifest(target)) === undefined) await new Promise((r) => setTimeout(r, 100));
  }
}

log(`live-tail latency, idle: ${PROBES} lines`);
const idle = summarise(await probeLatency(PROBES, 10));
log(`idle: ${JSON.stringify(idle)}`);

log(`throughput: ${JOBS} jobs writing ${Math.round(TOTAL_BYTES / MiB)} MiB as fast as they can`);
const runId = `bench-${Date.now()}`;
const probingSaturated = probeLatency(PROBES, 20);
const started = performance.now();
const run = await produce(runId, JOBS, TOTAL_BYTES, 0);
log(`produced in ${(run.ms / 1000).toFixed(1)} s; waiting for the manifests`);
await manifests(run.targets);
const archived = performance.now();
const saturated = summarise(await probingSaturated);
const seconds = (archived - started) / 1000;
let storedBytes = 0;
for await (const object of objects.list(`logs/${runId}/`)) storedBytes += object.size;
const throughput = {
  jobs: JOBS,
  lines: run.lines,
  megabytes: Math.round((TOTAL_BYTES / MiB) * 10) / 10,
  seconds: Math.round(seconds * 10) / 10,
  mbPerSecond: Math.round((TOTAL_BYTES / MiB / seconds) * 10) / 10,
  producerMbPerSecond: Math.round((TOTAL_BYTES / MiB / (run.ms / 1000)) * 10) / 10,
  archiveLagAfterLastWriteSeconds: Math.round((archived - started - run.ms) / 100) / 10,
  storedMegabytes: Math.round((storedBytes / MiB) * 10) / 10,
};
log(`throughput: ${JSON.stringify(throughput)}`);
log(`latency while saturated: ${JSON.stringify(saturated)}`);

log(`live-tail latency at the design's sustained load (${TARGET_MB_S} MB/s) for ${PACED_SECONDS} s`);
const probingPaced = probeLatency(Math.round((PACED_SECONDS * 1000) / 20), 20);
const paced = await produce(
  `paced-${Date.now()}`,
  JOBS,
  TARGET_MB_S * MiB * PACED_SECONDS,
  TARGET_MB_S * MiB,
);
await manifests(paced.targets);
const atDesignLoad = summarise(await probingPaced);
log(
  `latency at ${TARGET_MB_S} MB/s (achieved ${((TARGET_MB_S * PACED_SECONDS) / (paced.ms / 1000)).toFixed(1)}): ${JSON.stringify(atDesignLoad)}`,
);

const result = {
  benchmark: 'logs',
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    node: process.version,
    loadAverageAtEnd: loadavg().map((x) => Math.round(x * 10) / 10),
  },
  servers: { kafka: KAFKA_VERSION, minio: MINIO_VERSION, topicPartitions: 12 },
  settings: `one archiver process (flush 5 s / 1 MiB, gzip level 4); one producer process, ${LANES} lanes, linger 5 ms, gzip batches ≤ 960 KiB; lines of ~120 bytes in batches of ${BATCH}`,
  throughput,
  liveTailLatencyMs: { idle, atDesignLoad: { ...atDesignLoad, mbPerSecond: TARGET_MB_S }, saturated },
  targets: { mbPerSecond: TARGET_MB_S, p99Ms: 1000 },
};
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
const file = join(import.meta.dirname, 'results', `logs-${result.date.slice(0, 10)}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
log(`results in ${file}`);

archiver.kill('SIGTERM');
await new Promise((r) => archiver.once('exit', r));
await Promise.all([sinks.close(), tail.stop()]);
objects.destroy();
await Promise.all([kafka.stop(), s3.stop()]);
