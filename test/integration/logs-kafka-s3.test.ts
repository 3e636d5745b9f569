import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchivedLogStore } from '../../adapters/logs/archived-log-store.ts';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';
import { startKafka, type RunningKafka } from '../../infra/dev/kafka.ts';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';
import { loadConfig } from '../../shared/config.ts';
import { createLogReaders } from '../../workers/ports.ts';
import { createTestRepo, type TestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { eventually, isAlive } from '../helpers/processes.ts';
import { sseReader, type SseEvent } from '../helpers/sse.ts';

/**
 * The production log path end to end: runners publish to Kafka, the log archiver process stores
 * the lines in S3 (MinIO), and the API serves the archive and follows the topic live.
 */

const SECRET = 'kafka-s3-s3cr3t-value-7c1d';
const TOPIC = `logs-${randomUUID().slice(0, 8)}`;

let kafka: RunningKafka;
let s3: RunningS3;
let env: Record<string, string>;
let kiln: Harness;
let repo: TestRepo;
let archive: ArchivedLogStore;
let closeReaders: () => Promise<void>;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  const [k, s] = await Promise.allSettled([startKafka(), startS3()]);
  if (k.status === 'fulfilled') kafka = k.value;
  if (s.status === 'fulfilled') s3 = s.value;
  if (k.status === 'rejected') throw k.reason;
  if (s.status === 'rejected') throw s.reason;
  env = {
    KILN_KAFKA_BROKERS: kafka.brokers.join(','),
    KILN_LOGS_TOPIC: TOPIC,
    KILN_OBJECT_STORE: 's3',
    KILN_S3_ENDPOINT: s3.endpoint,
    KILN_S3_BUCKET: s3.bucket,
    KILN_S3_REGION: s3.region,
    KILN_S3_ACCESS_KEY: s3.accessKey,
    KILN_S3_SECRET_KEY: s3.secretKey,
  };
  // The API's readers exactly as a production API process makes them from its configuration.
  const readers = createLogReaders(loadConfig(env));
  closeReaders = readers.close;
  repo = createTestRepo({
    'talk.yaml': `
jobs:
  talk:
    secrets: [LOG_TOKEN]
    steps:
      - run: 'echo "first line"; echo "token is $LOG_TOKEN"; sleep 2; echo "second line"; echo "again $LOG_TOKEN"'
`,
    'crash.yaml': `
jobs:
  long:
    steps:
      - run: 'echo "before the crash"; sleep 5; echo "after the crash"'
`,
    'lost.yaml': `
jobs:
  fragile:
    steps:
      - run: 'if [ "$KILN_ATTEMPT" = 1 ]; then echo "doomed attempt"; sleep 60; else echo "second attempt"; fi'
`,
  });
  kiln = await startHarness({
    noWorkers: true,
    logs: readers,
    settings: { infraRetryBackoffMs: 100 },
    projects: [
      { repo: 'acme/talk', cloneUrl: repo.url, webhookSecret: 'x'.repeat(16), pipelinePath: 'talk.yaml' },
    ],
  });
  archive = new ArchivedLogStore({
    objects: new S3ObjectStore({
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      region: s3.region,
      credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    }),
  });
  const { projects } = (await (await kiln.api('/projects')).json()) as {
    projects: { id: string; repo: string }[];
  };
  const projectId = projects.find((p) => p.repo === 'acme/talk')!.id;
  const put = await kiln.api(`/projects/${projectId}/secrets/LOG_TOKEN`, {
    method: 'PUT',
    body: JSON.stringify({ value: SECRET }),
  });
  expect(put.status).toBe(200);
  await Promise.all([startProcess('workers/log-archiver.ts', [], 'archiving'), startWorker()]);
}, 600_000); // the first run on a machine fetches Kafka and builds MinIO (minutes)
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await closeReaders?.();
  await kiln?.stop();
  await Promise.all([kafka?.stop(), s3?.stop()]);
});

/** Starts a Kiln entry point as its own process with the Kafka and S3 settings; resolves once it says `ready`. */
async function startProcess(script: string, args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script, ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
      KILN_TEMPORAL_ADDRESS: kiln.address,
      KILN_TEMPORAL_NAMESPACE: kiln.namespace,
      KILN_ORCHESTRATOR_TASK_QUEUE: kiln.taskQueues.orchestrator,
      KILN_RUNNER_TASK_QUEUE: kiln.taskQueues.runner,
      KILN_DATA_DIR: kiln.dataDir,
      KILN_RUNNER_ISOLATION: 'none',
      KILN_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes(ready)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}: ${output}`)));
  });
  return child;
}

const startWorker = (): Promise<ChildProcess> =>
  startProcess('workers/worker.ts', ['--role', 'all'], 'ready');

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

interface Line {
  seq: number;
  text: string;
}
const lineOf = (event: SseEvent): Line => JSON.parse(event.data) as Line;

function follow(buildId: string, jobKey: string, lastEventId?: number) {
  const headers: Record<string, string> =
    lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) };
  return kiln.api(`/builds/${buildId}/jobs/${jobKey}/logs?follow=1`, { headers });
}

/** Reads events until `stop` holds for one (included) or the stream ends; fails after `timeoutMs`. */
async function readUntil(
  reader: ReturnType<typeof sseReader>,
  stop: (event: SseEvent) => boolean,
  timeoutMs = 30_000,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const deadline = setTimeout(() => void reader.close(), timeoutMs);
  try {
    for (let event = await reader.next(); event !== undefined; event = await reader.next()) {
      events.push(event);
      if (stop(event)) return events;
    }
  } catch {
    // closed by the deadline
  } finally {
    clearTimeout(deadline);
  }
  throw new Error(`stream ended before the expected event; got ${JSON.stringify(events)}`);
}
const textIs = (text: string) => (event: SseEvent) =>
  event.event === 'message' && lineOf(event).text === text;

/** The archived log text of an attempt through the API, once it holds `expected`. */
async function archivedLog(
  buildId: string,
  jobKey: string,
  attempt: number,
  expected: string,
): Promise<string> {
  let text = '';
  await eventually(async () => {
    const res = await kiln.api(`/builds/${buildId}/jobs/${jobKey}/logs?attempt=${attempt}`);
    text = res.status === 200 ? await res.text() : '';
    return text.includes(expected);
  }, 20_000);
  return text;
}

async function waitForJob(buildId: string, jobKey: string): Promise<void> {
  await kiln.waitFor(buildId, (b) => b.jobs.some((j) => j.key === jobKey));
}

describe('logs through Kafka and S3', () => {
  it('follows a running job live, resumes after a disconnect, masks the secret, then serves the archive', async () => {
    const res = await kiln.api('/builds', { method: 'POST', body: JSON.stringify({ project: 'acme/talk' }) });
    const { buildId } = (await res.json()) as { buildId: string };
    await waitForJob(buildId, 'talk');

    const first = sseReader(await follow(buildId, 'talk'));
    const before = await readUntil(first, textIs('token is ***'));
    // Live from Kafka: the job is still sleeping.
    expect((await kiln.getBuild(buildId)).jobs[0]!.status).toBe('running');
    expect(lineOf(before.at(-1)!).text).toBe('token is ***');
    await first.close();

    const lastId = Number(before.at(-1)!.id);
    const after = await readUntil(sseReader(await follow(buildId, 'talk', lastId)), (e) => e.event === 'end');
    const lines = [...before, ...after].filter((e) => e.event === 'message').map(lineOf);
    expect(lines.map((l) => l.seq)).toEqual(lines.map((_, i) => i + 1));
    expect(lines.map((l) => l.text)).toEqual(
      expect.arrayContaining(['first line', 'second line', 'again ***']),
    );
    expect(JSON.parse(after.at(-1)!.data)).toEqual({ lastSeq: lines.at(-1)!.seq });
    expect(JSON.stringify(lines)).not.toContain(SECRET);

    expect((await kiln.waitFor(buildId)).status).toBe('succeeded');
    const served = await archivedLog(buildId, 'talk', 1, 'again ***');
    expect(served).toContain('token is ***');
    expect(served).not.toContain(SECRET);
    // The archive itself (what S3 holds) never saw the value, and is complete.
    const stored: string[] = [];
    for await (const line of archive.read(buildId, 'talk', 1)) stored.push(line.text);
    expect(stored.join('\n')).not.toContain(SECRET);
    expect(stored).toEqual(lines.map((l) => l.text));
    expect((await archive.manifest({ buildId, jobKey: 'talk', attempt: 1 }))?.lastSeq).toBe(lines.length);
  }, 60_000);

  it('still serves what a job printed before its worker was killed with SIGKILL', async () => {
    const worker = [...children].find((c) => c.spawnargs.includes('workers/worker.ts'))!;
    const buildId = await kiln.startBuild({ cloneUrl: repo.url, pipelinePath: 'crash.yaml' });
    await waitForJob(buildId, 'long');
    const live = sseReader(await follow(buildId, 'long'));
    await readUntil(live, textIs('before the crash'));
    await kill(worker);
    await startWorker();

    const rest = await readUntil(live, (e) => e.event === 'end');
    expect(rest.filter((e) => e.event === 'message').map((e) => lineOf(e).text)).toContain('after the crash');
    const build = await kiln.waitFor(buildId, undefined, 60_000);
    expect(build.status).toBe('succeeded');
    expect(build.jobs[0]!.attempt).toBe(1);
    const served = await archivedLog(buildId, 'long', 1, 'after the crash');
    expect(served).toContain('before the crash');
  }, 90_000);

  it('ends the log of an attempt whose runner was lost: followers get the end, the archive is finalized', async () => {
    const buildId = await kiln.startBuild({ cloneUrl: repo.url, pipelinePath: 'lost.yaml' });
    await waitForJob(buildId, 'fragile');
    const live = sseReader(await follow(buildId, 'fragile'));
    const doomed = await readUntil(live, textIs('doomed attempt'));
    // Lose the runner: its supervisor and the step die at once, as when its machine goes away.
    const supervisor = supervisorPid(buildId, 1);
    process.kill(-supervisor, 'SIGKILL');
    expect(await eventually(() => !isAlive(supervisor), 5_000)).toBe(true);

    const end = await readUntil(live, (e) => e.event === 'end', 30_000);
    expect(JSON.parse(end.at(-1)!.data)).toEqual({ lastSeq: Number(doomed.at(-1)!.id) });
    const build = await kiln.waitFor(buildId, undefined, 60_000);
    expect(build.jobs[0]).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(
      await eventually(
        async () => (await archive.manifest({ buildId, jobKey: 'fragile', attempt: 1 })) !== undefined,
        20_000,
      ),
    ).toBe(true);
    const firstAttempt = (await archivedLog(buildId, 'fragile', 1, 'doomed attempt')).split('\n');
    expect(firstAttempt).toContain('doomed attempt');
    expect(firstAttempt).not.toContain('second attempt');
    expect(await archivedLog(buildId, 'fragile', 2, 'second attempt')).toContain('second attempt');
  }, 90_000);
});

/** The pid of the supervisor running an attempt, from the runner directory the local backend keeps. */
function supervisorPid(buildId: string, attempt: number): number {
  const runners = join(kiln.dataDir, 'runners');
  for (const dir of readdirSync(runners)) {
    try {
      const spec = JSON.parse(readFileSync(join(runners, dir, 'spec.json'), 'utf8')) as {
        buildId: string;
        attempt: number;
      };
      if (spec.buildId === buildId && spec.attempt === attempt)
        return Number(readFileSync(join(runners, dir, 'supervisor.pid'), 'utf8'));
    } catch {
      // not a runner directory, or one being removed
    }
  }
  throw new Error(`no runner of build ${buildId} attempt ${attempt}`);
}
