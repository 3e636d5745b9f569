/**
 * Uploads an artifact (`out/big.bin` of a workspace) through the artifact store and downloads it through the HTTP API, in a
 * process of its own so that its peak RSS measures exactly this. Prints one JSON line.
 *
 * usage: big-artifact-child.ts <store options as JSON> <workspace holding out/big.bin> <its sha256>
 * (store options: `{ store: 'dir', root }` or `{ store: 's3', endpoint, region, bucket, accessKey, secretKey }`)
 */
import { serve } from '@hono/node-server';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Hono } from 'hono';
import { ArtifactStore } from '../../adapters/artifacts/artifact-store.ts';
import { matchWorkspace } from '../../adapters/artifacts/workspace-glob.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { artifactRoutes } from '../../api/routes/artifacts.ts';
import { NotFoundError } from '../../shared/errors.ts';

const MiB = 1024 * 1024;

const options = JSON.parse(process.argv[2] ?? '{}') as
  | { store: 'dir'; root: string }
  | { store: 's3'; endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
// The S3 SDK is loaded only when used, so the directory store's figure does not carry it.
const objects: ObjectStore =
  options.store === 'dir'
    ? new DirObjectStore({ root: options.root })
    : new (await import('../../adapters/objects/s3-object-store.ts')).S3ObjectStore({
        endpoint: options.endpoint,
        region: options.region,
        bucket: options.bucket,
        credentials: { accessKeyId: options.accessKey, secretAccessKey: options.secretKey },
      });

const workspace = process.argv[3]!;
const expected = process.argv[4]!;
const SIZE = statSync(join(workspace, 'out', 'big.bin')).size;
const artifacts = new ArtifactStore({ objects });
const uploadStarted = Date.now();
const { files } = await matchWorkspace(workspace, ['out/']);
const buildId = `big-${process.pid}-${Date.now()}`;
await artifacts.publish(
  { buildId, jobKey: 'build', attempt: 1 },
  files.map((file) => ({ ...file, open: async () => createReadStream(join(workspace, file.path)) })),
);
const uploadMs = Date.now() - uploadStarted;
const uploadMaxRssBytes = process.resourceUsage().maxRSS * 1024;

const builds = {
  get: (id: string) => Promise.reject(new NotFoundError('build', `build "${id}" not found`)),
};
const app = new Hono().route('/builds', artifactRoutes({ builds, artifacts }));
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address() as { port: number };
const url = `http://127.0.0.1:${port}/builds/${buildId}/artifacts/out/big.bin`;

const downloadStarted = Date.now();
const res = await httpGet(url);
const received = createHash('sha256');
let bytes = 0;
for await (const chunk of res) {
  received.update(chunk as Buffer);
  bytes += (chunk as Buffer).length;
}
const downloadMs = Date.now() - downloadStarted;
const tail = await httpGet(url, { range: `bytes=${Math.max(0, SIZE - MiB)}-` });
let tailBytes = 0;
for await (const chunk of tail) tailBytes += (chunk as Buffer).length;
server.close();
(objects as { destroy?: () => void }).destroy?.();

console.log(
  JSON.stringify({
    expected,
    status: res.statusCode,
    contentLength: Number(res.headers['content-length']),
    etag: res.headers.etag,
    received: received.digest('hex'),
    bytes,
    tailStatus: tail.statusCode,
    tailBytes,
    uploadMs,
    downloadMs,
    uploadMaxRssBytes,
    // Kilobytes, as `getrusage` reports it.
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);

function httpGet(url: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => get(url, { headers }, resolve).once('error', reject));
}
