import { createHash, randomUUID } from 'node:crypto';
import { utimesSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../adapters/artifacts/artifact-store.ts';
import {
  BLOBS_PREFIX,
  blobKey,
  manifestKey as artifactManifestKey,
  MANIFESTS_PREFIX,
} from '../../adapters/artifacts/manifest.ts';
import { ArchivedLogStore } from '../../adapters/logs/archived-log-store.ts';
import {
  chunkKey,
  encodeChunk,
  manifestKey as logManifestKey,
  serializeLine,
} from '../../adapters/logs/chunks.ts';
import type { LogTarget } from '../../adapters/logs/port.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';
import { collectUnreferencedBlobs } from '../../adapters/retention/artifact-retention.ts';
import { deleteExpiredLogs } from '../../adapters/retention/log-retention.ts';
import type { SweepProgress } from '../../adapters/retention/sweep.ts';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';
import type { RetentionInput, RetentionResult } from '../../workflows/retention.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';

const DAY = 86_400_000;
const RETENTION = { logRetentionMs: 90 * DAY, blobGraceMs: 3_600_000 } satisfies RetentionInput;

interface StoreUnderTest {
  objects: ObjectStore;
  /** Sets an object's last write time, where the store allows it (the directory store). */
  age?: (key: string, at: Date) => void;
  dispose(): Promise<void>;
}

const stores: [string, () => Promise<StoreUnderTest>][] = [
  [
    'directory store',
    async () => {
      const root = join(tmpdir(), `kiln-retention-${randomUUID().slice(0, 8)}`);
      return {
        objects: new DirObjectStore({ root }),
        age: (key, at) => utimesSync(join(root, 'data', key), at, at),
        dispose: () => rm(root, { recursive: true, force: true }),
      };
    },
  ],
  [
    'S3 (MinIO)',
    async () => {
      const s3: RunningS3 = await startS3({ bucket: `retention-${randomUUID().slice(0, 8)}` });
      const objects = new S3ObjectStore({
        endpoint: s3.endpoint,
        bucket: s3.bucket,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
      });
      return {
        objects,
        dispose: async () => {
          objects.destroy();
          await s3.stop();
        },
      };
    },
  ],
];

/** Archives one attempt's log as the archiver would: one chunk, and a manifest when `endedAt` is given. */
async function archiveLog(
  objects: ObjectStore,
  target: LogTarget,
  lines: string[],
  endedAt?: number,
): Promise<void> {
  const ndjson = lines.map((text, i) =>
    serializeLine({ ...target, seq: i + 1, ts: Date.now(), stream: 'stdout', text }),
  );
  const key = chunkKey(target, 1);
  const body = await encodeChunk(ndjson);
  await objects.put(key, body, { contentType: 'application/gzip' });
  if (endedAt === undefined) return;
  const manifest = {
    ...target,
    lastSeq: lines.length,
    endedAt,
    archivedAt: endedAt,
    chunks: [{ key, firstSeq: 1, size: body.length }],
  };
  await objects.put(logManifestKey(target), Buffer.from(JSON.stringify(manifest)), {
    contentType: 'application/json',
  });
}

/** Keys under a prefix, in order. */
async function keys(objects: ObjectStore, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const { key } of objects.list(prefix)) found.push(key);
  return found;
}

const file = (path: string, content: string) => ({
  path,
  size: Buffer.byteLength(content),
  mode: 0o644,
  open: async () => Readable.from([Buffer.from(content)]),
});

const sha256Of = (content: string): string => createHash('sha256').update(content).digest('hex');

describe.each(stores)('retention on the %s', (_name, open) => {
  let store: StoreUnderTest;
  let kiln: Harness;
  let artifacts: ArtifactStore;

  beforeAll(async () => {
    store = await open();
    kiln = await startHarness({ objects: store.objects });
    artifacts = new ArtifactStore({ objects: store.objects });
  }, 600_000);
  afterAll(async () => {
    await kiln?.stop();
    await store?.dispose();
  });

  const runRetention = (input: RetentionInput = RETENTION): Promise<RetentionResult> =>
    kiln.client.workflow.execute('retentionWorkflow', {
      taskQueue: kiln.taskQueues.orchestrator,
      workflowId: `retention-test-${randomUUID()}`,
      args: [input],
    });

  it('deletes expired artifacts, keeps shared and fresh blobs, then collects what nothing names', async () => {
    const { objects } = store;
    const now = Date.now();
    // An expired job and a live one share one file; each has one of its own.
    await artifacts.publish(
      { buildId: 'b-old', jobKey: 'build', attempt: 1, expireInMs: DAY },
      [file('shared.txt', 'shared content'), file('old-only.txt', 'only the expired job kept this')],
      new Date(now - 2 * DAY),
    );
    await artifacts.publish({ buildId: 'b-new', jobKey: 'build', attempt: 1, expireInMs: DAY }, [
      file('shared.txt', 'shared content'),
      file('new-only.txt', 'only the live job kept this'),
    ]);
    await artifacts.publish({ buildId: 'b-forever', jobKey: 'build', attempt: 1, expireInMs: null }, [
      file('keep.txt', 'kept forever'),
    ]);
    // A blob whose manifest is not written yet: an upload under way.
    const inFlight = blobKey(sha256Of('uploading right now'));
    await objects.put(inFlight, Buffer.from('uploading right now'));

    const first = await runRetention();
    expect(first.artifactManifests).toEqual({ deleted: 1, bytes: expect.any(Number), unreadable: 0 });
    expect(first.artifactManifests.bytes).toBeGreaterThan(0);
    // The expired job's own blob and the in-flight one are unreferenced but younger than the grace period.
    expect(first.artifactBlobs).toEqual({ deleted: 0, bytes: 0 });
    expect(await objects.head(artifactManifestKey('b-old', 'build'))).toBeUndefined();
    expect(await objects.head(artifactManifestKey('b-new', 'build'))).toBeDefined();
    expect(await objects.head(inFlight)).toBeDefined();

    // Past the grace period, the blobs nothing names go; the shared one stays for the live job.
    await new Promise((r) => setTimeout(r, 1_200));
    const second = await runRetention({ ...RETENTION, blobGraceMs: 1_000 });
    expect(second.artifactManifests.deleted).toBe(0);
    expect(second.artifactBlobs.deleted).toBe(2);
    const oldOnly = 'only the expired job kept this';
    expect(second.artifactBlobs.bytes).toBe(
      Buffer.byteLength(oldOnly) + Buffer.byteLength('uploading right now'),
    );
    expect(await objects.head(blobKey(sha256Of(oldOnly)))).toBeUndefined();
    expect(await objects.head(inFlight)).toBeUndefined();
    for (const kept of ['shared content', 'only the live job kept this', 'kept forever'])
      expect(await objects.head(blobKey(sha256Of(kept)))).toBeDefined();
    const live = await artifacts.manifest('b-new', 'build');
    for (const f of live!.files)
      expect(await (await artifacts.openVerified(f)).toArray()).not.toHaveLength(0);

    // Nothing left to do: a rerun deletes nothing.
    const third = await runRetention({ ...RETENTION, blobGraceMs: 1_000 });
    expect(third.bytesFreed).toBe(0);
  }, 120_000);

  it('keeps a manifest it cannot read, and every blob its text names', async () => {
    const { objects } = store;
    const content = 'named by a damaged manifest';
    const damaged = artifactManifestKey('b-damaged', 'build');
    await objects.put(damaged, Buffer.from(`{"version":1,"files":[{"sha256":"${sha256Of(content)}"`));
    await objects.put(blobKey(sha256Of(content)), Buffer.from(content));
    await new Promise((r) => setTimeout(r, 1_200));

    const result = await runRetention({ ...RETENTION, blobGraceMs: 1_000 });
    expect(result.artifactManifests).toEqual({ deleted: 0, bytes: 0, unreadable: 1 });
    expect(result.artifactBlobs.deleted).toBe(0);
    expect(await objects.head(damaged)).toBeDefined();
    expect(await objects.head(blobKey(sha256Of(content)))).toBeDefined();
  }, 60_000);

  it('deletes the archived logs of old builds and keeps recent ones', async () => {
    const { objects } = store;
    const now = Date.now();
    const old = { buildId: `old-${randomUUID().slice(0, 6)}`, jobKey: 'test', attempt: 1 };
    await archiveLog(objects, old, ['ancient line'], now - 100 * DAY);
    await archiveLog(objects, { ...old, attempt: 2 }, ['ancient retry'], now - 95 * DAY);
    const recent = { buildId: `new-${randomUUID().slice(0, 6)}`, jobKey: 'test', attempt: 1 };
    await archiveLog(objects, recent, ['recent line'], now - DAY);
    // An old first attempt, but the build ran again lately: the build is kept whole.
    const mixed = { buildId: `mixed-${randomUUID().slice(0, 6)}`, jobKey: 'test', attempt: 1 };
    await archiveLog(objects, mixed, ['old attempt'], now - 120 * DAY);
    await archiveLog(objects, { ...mixed, jobKey: 'deploy' }, ['recent attempt'], now - 2 * DAY);
    // No manifest (its runner died): dated by its chunk's write, which is fresh.
    const unfinished = { buildId: `lost-${randomUUID().slice(0, 6)}`, jobKey: 'test', attempt: 1 };
    await archiveLog(objects, unfinished, ['cut short']);
    const oldKeys = await keys(objects, `logs/${old.buildId}/`);
    expect(oldKeys).toHaveLength(4);

    const result = await runRetention();
    expect(result.logs.builds).toBe(1);
    expect(result.logs.objects).toBe(4);
    expect(result.logs.bytes).toBeGreaterThan(0);
    expect(await keys(objects, `logs/${old.buildId}/`)).toEqual([]);
    expect(await keys(objects, `logs/${recent.buildId}/`)).toHaveLength(2);
    expect(await keys(objects, `logs/${mixed.buildId}/`)).toHaveLength(4);
    expect(await keys(objects, `logs/${unfinished.buildId}/`)).toHaveLength(1);
    // The recent build's log is still served whole.
    const lines: string[] = [];
    for await (const line of new ArchivedLogStore({ objects }).read(recent.buildId, 'test', 1))
      lines.push(line.text);
    expect(lines).toEqual(['recent line']);

    if (store.age !== undefined) {
      // Once its chunk was last written long ago, the unfinished attempt's build goes too.
      store.age(chunkKey(unfinished, 1), new Date(now - 91 * DAY));
      const aged = await runRetention();
      expect(aged.logs).toEqual({ builds: 1, objects: 1, bytes: expect.any(Number) });
      expect(await keys(objects, `logs/${unfinished.buildId}/`)).toEqual([]);
    }
  }, 120_000);

  it('reports progress while reading many manifests, without moving the resume point', async () => {
    const { objects } = store;
    for (const i of [1, 2, 3, 4, 5])
      await artifacts.publish({ buildId: `b-many-${i}`, jobKey: 'build', attempt: 1, expireInMs: DAY }, [
        file('own.txt', `file of build ${i}`),
      ]);
    const manifests = (await keys(objects, MANIFESTS_PREFIX)).filter((k) => k.endsWith('.json')).length;
    const unnamed = blobKey(sha256Of('named by no manifest'));
    await objects.put(unnamed, Buffer.from('named by no manifest'));
    await new Promise((r) => setTimeout(r, 1_200));
    const cutOff = new Date(Date.now() - 1_000);

    // Cancelled while reading the manifests: it stops there, before deleting anything.
    const seen: SweepProgress[] = [];
    await expect(
      collectUnreferencedBlobs(objects, cutOff, {
        pageSize: 2,
        onProgress: (progress) => {
          seen.push(progress);
          throw new Error('cancelled');
        },
      }),
    ).rejects.toThrow('cancelled');
    expect(seen).toEqual([{ after: undefined, counts: { deleted: 0, bytes: 0 } }]);
    expect(await objects.head(unnamed)).toBeDefined();

    // Resumed past every blob: one report per page of manifests, each with the resume point as it was.
    const resume = { after: `${BLOBS_PREFIX}${'f'.repeat(64)}`, counts: { deleted: 3, bytes: 30 } };
    seen.length = 0;
    const counts = await collectUnreferencedBlobs(objects, cutOff, {
      pageSize: 2,
      resume,
      onProgress: (progress) => seen.push(progress),
    });
    expect(counts).toEqual(resume.counts);
    expect(seen).toEqual(Array(Math.floor(manifests / 2) + 1).fill(resume));
    expect(await objects.head(unnamed)).toBeDefined();
  }, 60_000);

  it('resumes a sweep cut short after a page without deleting anything else', async () => {
    const { objects } = store;
    const now = Date.now();
    const prefix = `resume-${randomUUID().slice(0, 6)}/`;
    const builds = ['a', 'b', 'c', 'd'].map((b) => ({ buildId: `build-${b}`, jobKey: 'test', attempt: 1 }));
    for (const [i, target] of builds.entries()) {
      // a and c are old, b and d recent.
      await archiveLog(objects, target, [`line of ${target.buildId}`], i % 2 === 0 ? now - 100 * DAY : now);
    }
    const moved = async (target: LogTarget) => {
      for (const key of await keys(objects, `logs/${target.buildId}/`)) {
        const body = await objects.get(key);
        await objects.put(`${prefix}${key.slice('logs/'.length)}`, Buffer.concat(await body!.body.toArray()));
        await objects.delete(key);
      }
    };
    for (const target of builds) await moved(target);

    let saved: SweepProgress | undefined;
    await expect(
      deleteExpiredLogs(objects, now - 90 * DAY, {
        prefix,
        pageSize: 1,
        onProgress: (progress) => {
          saved = progress;
          if (progress.counts.deleted > 0) throw new Error('worker crashed');
        },
      }),
    ).rejects.toThrow('worker crashed');
    expect(saved?.counts).toMatchObject({ builds: 1, deleted: 2 });
    expect(await keys(objects, `${prefix}build-a/`)).toEqual([]);

    const resumed = await deleteExpiredLogs(objects, now - 90 * DAY, { prefix, pageSize: 1, resume: saved });
    expect(resumed).toMatchObject({ builds: 2, deleted: 4 });
    expect((await keys(objects, prefix)).map((k) => k.split('/')[1])).toEqual([
      'build-b',
      'build-b',
      'build-d',
      'build-d',
    ]);
  }, 60_000);
});
