import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArtifactStore, type FileToKeep } from '../../adapters/artifacts/artifact-store.ts';
import { digestStream } from '../../adapters/artifacts/hashing.ts';
import { BLOBS_PREFIX, manifestKey, readManifest } from '../../adapters/artifacts/manifest.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';

let scratch: string;
let s3: RunningS3;
let s3Store: S3ObjectStore;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'kiln-artifact-store-'));
  s3 = await startS3({ bucket: 'artifacts' });
  s3Store = new S3ObjectStore({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
  });
}, 600_000);
afterAll(async () => {
  s3Store?.destroy();
  await s3?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const stores: [string, () => ObjectStore][] = [
  ['directory store', () => new DirObjectStore({ root: join(scratch, `objects-${Math.random()}`) })],
  ['S3 store (MinIO)', () => s3Store],
];

function fileOnDisk(name: string, content: string, path = name): FileToKeep {
  const full = join(scratch, name);
  writeFileSync(full, content);
  return { path, size: Buffer.byteLength(content), mode: 0o644, open: async () => createReadStream(full) };
}

async function blobCount(objects: ObjectStore, prefix = BLOBS_PREFIX): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of objects.list(prefix)) keys.push(key);
  return keys;
}

describe.each(stores)('ArtifactStore on the %s', (_name, makeStore) => {
  it('stores one blob for the same file of two builds, and one manifest per build and job', async () => {
    const objects = makeStore();
    const artifacts = new ArtifactStore({ objects, defaultExpireMs: 86_400_000 });
    const run = Math.random().toString(36).slice(2);
    const content = `same bytes ${run}\n`;
    const sha = createHash('sha256').update(content).digest('hex');
    const before = await blobCount(objects);

    const first = await artifacts.publish({ buildId: `b1-${run}`, jobKey: 'build', attempt: 1 }, [
      fileOnDisk(`a-${run}`, content, 'dist/app.txt'),
    ]);
    const second = await artifacts.publish({ buildId: `b2-${run}`, jobKey: 'build', attempt: 2 }, [
      fileOnDisk(`b-${run}`, content, 'out/other-name.txt'),
    ]);
    expect(first.uploaded).toBe(1);
    expect(second.uploaded).toBe(0); // `head` found the blob
    const after = await blobCount(objects);
    expect(after.filter((key) => !before.includes(key))).toEqual([`${BLOBS_PREFIX}${sha}`]);

    const manifest = await readManifest(objects, `b2-${run}`, 'build');
    expect(manifest).toEqual({
      version: 1,
      buildId: `b2-${run}`,
      jobKey: 'build',
      attempt: 2,
      createdAt: expect.any(String),
      expiresAt: expect.any(String),
      files: [{ path: 'out/other-name.txt', sha256: sha, size: Buffer.byteLength(content), mode: 0o644 }],
    });
    expect(Date.parse(manifest!.expiresAt!) - Date.parse(manifest!.createdAt)).toBe(86_400_000);
    expect((await objects.head(manifestKey(`b1-${run}`, 'build')))?.contentType).toBe('application/json');

    const body = await artifacts.openVerified(manifest!.files[0]!);
    expect((await digestStream(body)).sha256).toBe(sha);
  });

  it('writes an existing blob again once it is older than the refresh age, so retention cannot take it', async () => {
    const objects = makeStore();
    const run = Math.random().toString(36).slice(2);
    const content = `refreshed ${run}\n`;
    const sha = createHash('sha256').update(content).digest('hex');
    await new ArtifactStore({ objects }).publish({ buildId: `r1-${run}`, jobKey: 'j', attempt: 1 }, [
      fileOnDisk(`r1-${run}`, content),
    ]);
    const written = (await objects.head(`${BLOBS_PREFIX}${sha}`))!.lastModified;
    await new Promise((r) => setTimeout(r, 1_100)); // S3 timestamps have one-second resolution
    const reusing = new ArtifactStore({ objects, refreshAfterMs: 60_000 });
    const reused = await reusing.publish({ buildId: `r2-${run}`, jobKey: 'j', attempt: 1 }, [
      fileOnDisk(`r2-${run}`, content),
    ]);
    expect(reused.uploaded).toBe(0);
    const refreshing = new ArtifactStore({ objects, refreshAfterMs: 500 });
    const rewritten = await refreshing.publish({ buildId: `r3-${run}`, jobKey: 'j', attempt: 1 }, [
      fileOnDisk(`r3-${run}`, content),
    ]);
    expect(rewritten.uploaded).toBe(1);
    expect((await objects.head(`${BLOBS_PREFIX}${sha}`))!.lastModified.getTime()).toBeGreaterThan(
      written.getTime(),
    );
  });

  it('honours expire_in: never and a job-specific expiry', async () => {
    const artifacts = new ArtifactStore({ objects: makeStore() });
    const now = new Date('2026-03-01T00:00:00Z');
    const kept = await artifacts.publish(
      { buildId: 'exp', jobKey: 'forever', attempt: 1, expireInMs: null },
      [fileOnDisk('f1', 'x')],
      now,
    );
    expect(kept.manifest.expiresAt).toBeNull();
    const short = await artifacts.publish(
      { buildId: 'exp', jobKey: 'short', attempt: 1, expireInMs: 3_600_000 },
      [fileOnDisk('f2', 'y')],
      now,
    );
    expect(short.manifest.expiresAt).toBe('2026-03-01T01:00:00.000Z');
    const defaulted = await artifacts.publish(
      { buildId: 'exp', jobKey: 'default', attempt: 1 },
      [fileOnDisk('f3', 'z')],
      now,
    );
    expect(defaulted.manifest.expiresAt).toBe('2026-03-31T00:00:00.000Z'); // 30 days
    expect((await artifacts.manifests('exp')).map((m) => m.jobKey)).toEqual(['default', 'forever', 'short']);
  });

  it('fails an upload whose file changes between hashing and uploading, storing nothing', async () => {
    const objects = makeStore();
    const artifacts = new ArtifactStore({ objects });
    const run = Math.random().toString(36).slice(2);
    const full = join(scratch, `changing-${run}`);
    writeFileSync(full, `first ${run}`);
    let opened = 0;
    const file: FileToKeep = {
      path: 'changing.txt',
      size: 5,
      mode: 0o644,
      open: async () => {
        if (++opened === 2) writeFileSync(full, `second, longer ${run}`);
        return createReadStream(full);
      },
    };
    const sha = createHash('sha256').update(`first ${run}`).digest('hex');
    await expect(artifacts.putFile(file)).rejects.toThrow(/artifact "changing.txt": content changed/);
    expect(await objects.head(`${BLOBS_PREFIX}${sha}`)).toBeUndefined();
  });

  it('refuses to serve a blob whose content does not match its hash', async () => {
    const objects = makeStore();
    const artifacts = new ArtifactStore({ objects });
    const sha = createHash('sha256').update('expected').digest('hex');
    await objects.put(`${BLOBS_PREFIX}${sha}`, Buffer.from('tampered'));
    const body = await artifacts.openVerified({ path: 'a.txt', sha256: sha, size: 8, mode: 0o644 });
    await expect(digestStream(body)).rejects.toThrow(/artifact "a.txt": content changed/);
  });
});
