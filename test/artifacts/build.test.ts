import { serve } from '@hono/node-server';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOBS_PREFIX } from '../../adapters/artifacts/manifest.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';
import type { ArtifactListing } from '../../api/routes/artifacts.ts';
import { KilnApiClient } from '../../cli/api-client.ts';
import { downloadArtifacts, renderArtifacts } from '../../cli/artifacts.ts';
import { createTestRepo } from '../helpers/git-repo.ts';
import { API_TOKEN, startHarness, type Harness } from '../helpers/kiln-harness.ts';

let s3: RunningS3 | undefined;
beforeAll(async () => {
  s3 = await startS3({ bucket: 'build-artifacts' });
}, 600_000);
afterAll(async () => s3?.stop());

const PIPELINE = `
jobs:
  build:
    steps:
      - run: |
          mkdir -p dist/sub
          printf 'hello artifact\\n' > dist/sub/out.txt
          head -c 300000 /dev/urandom > dist/blob.bin
          printf '#!/bin/sh\\necho tool-ran\\n' > dist/tool.sh
          chmod +x dist/tool.sh
    artifacts:
      paths: [dist/, "missing/*.xml"]
      expire_in: 1 week
  use:
    needs: build
    steps:
      - run: cat dist/sub/out.txt && ./dist/tool.sh && sha256sum dist/blob.bin
  leak:
    steps:
      - run: ln -s /etc/hostname leak.txt
    artifacts: [leak.txt]
  short:
    steps:
      - run: echo short > same.txt
    artifacts: { paths: [same.txt], expire_in: 1s }
  other:
    steps:
      - run: echo other > same.txt && echo accented > 'naïve ✓.txt'
    artifacts:
      paths: [same.txt, naïve*]
      when: always
  broken:
    steps:
      - run: echo crash report > crash.txt && exit 3
    artifacts: { paths: [crash.txt], when: on_failure }
`;

describe.each([
  ['directory store', () => undefined],
  [
    'S3 store (MinIO)',
    (): ObjectStore =>
      new S3ObjectStore({
        endpoint: s3!.endpoint,
        region: s3!.region,
        bucket: s3!.bucket,
        credentials: { accessKeyId: s3!.accessKey, secretAccessKey: s3!.secretKey },
      }),
  ],
])('artifacts of a build on the %s', (_name, makeObjects) => {
  let kiln: Harness;
  let buildId: string;
  let listing: ArtifactListing[];

  beforeAll(async () => {
    kiln = await startHarness({ objects: makeObjects() });
    const repo = createTestRepo({ '.ci.yaml': PIPELINE });
    buildId = await kiln.startBuild({ cloneUrl: repo.url });
    await kiln.waitFor(buildId);
    const res = await kiln.api(`/builds/${buildId}/artifacts`);
    expect(res.status).toBe(200);
    listing = ((await res.json()) as { artifacts: ArtifactListing[] }).artifacts;
  }, 120_000);
  afterAll(async () => kiln?.stop());

  it("places job A's artifacts in job B's workspace before its first step", async () => {
    const build = await kiln.getBuild(buildId);
    const job = Object.fromEntries(build.jobs.map((j) => [j.key, j]));
    expect(job.build!.status).toBe('succeeded');
    expect(job.use!.status).toBe('succeeded');
    const blob = listing.find((a) => a.path === 'dist/blob.bin')!;
    const useLog = await (await kiln.api(`/builds/${buildId}/jobs/use/logs`)).text();
    expect(useLog).toContain('✔ artifacts: placed 3 files from build');
    expect(useLog).toContain('hello artifact');
    expect(useLog).toContain('tool-ran'); // the executable bit survived
    expect(useLog).toContain(`${blob.sha256}  dist/blob.bin`);
  });

  it('warns in the job log about a glob that matched nothing', async () => {
    const log = await (await kiln.api(`/builds/${buildId}/jobs/build/logs`)).text();
    expect(log).toContain('⚠ artifacts: no file matches "missing/*.xml"');
    expect(log).toContain('✔ artifacts: 3 files');
  });

  it('fails a job whose artifact links outside the workspace, once and finally', async () => {
    const leak = (await kiln.getBuild(buildId)).jobs.find((j) => j.key === 'leak')!;
    expect(leak.status).toBe('failed');
    expect(leak.failureCode).toBe('ARTIFACT_INVALID');
    expect(leak.message).toMatch(/artifact "leak\.txt" resolves to \/etc\/hostname, outside the workspace/);
    expect(leak.attempt).toBe(1);
    const log = await (await kiln.api(`/builds/${buildId}/jobs/leak/logs`)).text();
    expect(log).toMatch(/✖ artifact "leak\.txt" resolves to/);
    expect(listing.some((a) => a.job === 'leak')).toBe(false);
  });

  it('keeps the files of a failed job when: on_failure', async () => {
    const broken = (await kiln.getBuild(buildId)).jobs.find((j) => j.key === 'broken')!;
    expect(broken.failureCode).toBe('STEP_FAILED');
    const crash = listing.find((a) => a.job === 'broken')!;
    expect(crash.path).toBe('crash.txt');
    expect(await (await kiln.api(crash.url)).text()).toBe('crash report\n');
  });

  it('lists every kept file with its hash, expiry and download URL', async () => {
    const mine = listing.filter((a) => a.job === 'build');
    expect(mine.map((a) => [a.path, a.mode])).toEqual([
      ['dist/blob.bin', expect.any(Number)],
      ['dist/sub/out.txt', expect.any(Number)],
      ['dist/tool.sh', 0o755],
    ]);
    const out = mine.find((a) => a.path === 'dist/sub/out.txt')!;
    expect(out).toMatchObject({
      size: 15,
      sha256: createHash('sha256').update('hello artifact\n').digest('hex'),
      expired: false,
      url: `/builds/${buildId}/artifacts/dist/sub/out.txt?job=build`,
    });
    const week = Date.parse(out.expiresAt!) - Date.now();
    expect(week).toBeGreaterThan(6 * 86_400_000);
    expect(week).toBeLessThanOrEqual(7 * 86_400_000);
  });

  it('serves a file with Content-Length, ETag, Range and If-None-Match', async () => {
    const out = listing.find((a) => a.path === 'dist/sub/out.txt')!;
    const whole = await kiln.api(out.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe('15');
    expect(whole.headers.get('etag')).toBe(`"${out.sha256}"`);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(await whole.text()).toBe('hello artifact\n');

    const part = await kiln.api(out.url, { headers: { range: 'bytes=6-13' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 6-13/15');
    expect(part.headers.get('content-length')).toBe('8');
    expect(await part.text()).toBe('artifact');

    const suffix = await kiln.api(out.url, { headers: { range: 'bytes=-9' } });
    expect(await suffix.text()).toBe('artifact\n');

    const beyond = await kiln.api(out.url, { headers: { range: 'bytes=15-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */15');

    const cached = await kiln.api(out.url, { headers: { 'if-none-match': `"${out.sha256}"` } });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe('');

    const blob = listing.find((a) => a.path === 'dist/blob.bin')!;
    const big = await kiln.api(`/builds/${buildId}/artifacts/dist/blob.bin`);
    const bytes = Buffer.from(await big.arrayBuffer());
    expect(bytes.length).toBe(300_000);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(blob.sha256);
  });

  it('answers HEAD without a body, honours If-Range and names non-ASCII files safely', async () => {
    const out = listing.find((a) => a.path === 'dist/sub/out.txt')!;
    const head = await kiln.api(out.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('15');
    expect(head.headers.get('etag')).toBe(`"${out.sha256}"`);
    const headPart = await kiln.api(out.url, { method: 'HEAD', headers: { range: 'bytes=6-13' } });
    expect(headPart.status).toBe(206);
    expect(headPart.headers.get('content-range')).toBe('bytes 6-13/15');

    // Resuming against the content it started with: the range; against older content: the whole file.
    const same = await kiln.api(out.url, { headers: { range: 'bytes=6-13', 'if-range': `"${out.sha256}"` } });
    expect(same.status).toBe(206);
    expect(await same.text()).toBe('artifact');
    const changed = await kiln.api(out.url, { headers: { range: 'bytes=6-13', 'if-range': '"0000"' } });
    expect(changed.status).toBe(200);
    expect(await changed.text()).toBe('hello artifact\n');

    const accented = listing.find((a) => a.path === 'naïve ✓.txt')!;
    const res = await kiln.api(accented.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="na_ve _.txt"; filename*=UTF-8''${encodeURIComponent('naïve ✓.txt')}`,
    );
    expect(await res.text()).toBe('accented\n');
  });

  it('answers 404 naming the unknown build, path or job, 409 for an ambiguous path and 410 once expired', async () => {
    const unknownBuild = await kiln.api('/builds/no-such-build/artifacts/x.txt');
    expect(unknownBuild.status).toBe(404);
    expect(await unknownBuild.text()).toContain('no-such-build');
    expect((await kiln.api('/builds/no-such-build/artifacts')).status).toBe(404);

    const unknownPath = await kiln.api(`/builds/${buildId}/artifacts/dist/nope.txt`);
    expect(unknownPath.status).toBe(404);
    expect(await unknownPath.text()).toContain('dist/nope.txt');
    const unknownJob = await kiln.api(`/builds/${buildId}/artifacts/same.txt?job=nope`);
    expect(unknownJob.status).toBe(404);
    expect(await unknownJob.text()).toContain('job \\"nope\\"');

    const ambiguous = await kiln.api(`/builds/${buildId}/artifacts/same.txt`);
    expect(ambiguous.status).toBe(409);
    expect(await ambiguous.text()).toContain('other, short');
    const picked = await kiln.api(`/builds/${buildId}/artifacts/same.txt?job=other`);
    expect(await picked.text()).toBe('other\n');

    // `short` kept its file for 1 s.
    const expiresAt = Date.parse(listing.find((a) => a.job === 'short')!.expiresAt!);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 50)));
    const expired = await kiln.api(`/builds/${buildId}/artifacts/same.txt?job=short`);
    expect(expired.status).toBe(410);
    expect(await expired.text()).toMatch(/expired at/);
    const now = (await (await kiln.api(`/builds/${buildId}/artifacts`)).json()) as {
      artifacts: ArtifactListing[];
    };
    expect(now.artifacts.find((a) => a.job === 'short')?.expired).toBe(true);
  });

  it('stores one blob per distinct content', async () => {
    const objects = kiln.artifacts.objects;
    const blobs: string[] = [];
    for await (const { key } of objects.list(BLOBS_PREFIX)) blobs.push(key);
    const distinct = new Set(listing.map((a) => `${BLOBS_PREFIX}${a.sha256}`));
    for (const key of distinct) expect(blobs).toContain(key);
    if (objects instanceof DirObjectStore) expect(blobs).toHaveLength(distinct.size);
  });

  it('lists and downloads them with the CLI, checked against their hashes', async () => {
    const server = serve({ fetch: kiln.app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const into = mkdtempSync(join(tmpdir(), 'kiln-cli-artifacts-'));
    try {
      const { port } = server.address() as { port: number };
      const api = new KilnApiClient(`http://127.0.0.1:${port}`, API_TOKEN);
      const table = renderArtifacts((await api.listArtifacts(buildId)).artifacts);
      expect(table).toMatch(/^JOB\s+PATH\s+SIZE\s+SHA256\s+EXPIRES/);
      expect(table).toMatch(/build\s+dist\/sub\/out\.txt\s+15 B/);
      const written = await downloadArtifacts(api, buildId, { paths: [], job: 'build', dir: into });
      expect(written).toHaveLength(3);
      expect(readFileSync(join(into, 'dist/sub/out.txt'), 'utf8')).toBe('hello artifact\n');
      await expect(downloadArtifacts(api, buildId, { paths: ['nope.txt'], dir: into })).rejects.toThrow(
        /no unexpired artifact nope\.txt/,
      );
    } finally {
      server.close();
      rmSync(into, { recursive: true, force: true });
    }
  });
});

describe('artifacts when the object store is down', () => {
  let kiln: Harness;
  afterAll(async () => kiln?.stop());

  it('retries the job as an infrastructure failure, then ends it errored', async () => {
    // A real S3 client aimed at a port nothing listens on (MinIO stopped).
    const stopped = await startS3({ bucket: 'gone' });
    const { endpoint, region, bucket, accessKey, secretKey } = stopped;
    await stopped.stop();
    const objects = new S3ObjectStore({
      endpoint,
      region,
      bucket,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    });
    kiln = await startHarness({ objects });
    const repo = createTestRepo({
      '.ci.yaml':
        'jobs:\n  build:\n    retries: 1\n    steps: [echo kept > out.txt]\n    artifacts: [out.txt]\n',
    });
    const id = await kiln.startBuild({ cloneUrl: repo.url });
    const build = await kiln.waitFor(id, undefined, 90_000);
    const job = build.jobs[0]!;
    expect(job.status).toBe('errored');
    expect(job.failureCode).toBe('ARTIFACT_STORE_UNAVAILABLE');
    expect(job.attempt).toBe(2);
    expect(job.message).toMatch(/ARTIFACT_STORE_UNAVAILABLE: artifact upload failed: .*ECONNREFUSED/);
    objects.destroy();
  }, 120_000);
});
