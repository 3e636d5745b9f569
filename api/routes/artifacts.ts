import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { Readable } from 'node:stream';
import type { ArtifactStore } from '../../adapters/artifacts/artifact-store.ts';
import type { ArtifactFile, ArtifactManifest } from '../../adapters/artifacts/manifest.ts';
import { RangeNotSatisfiableError } from '../../adapters/objects/port.ts';
import { InvalidInputError } from '../../shared/errors.ts';
import { isValidBuildId } from '../../shared/ids.ts';
import type { BuildService } from '../build-service.ts';
import { parseRangeHeader } from './byte-range.ts';

/** One artifact in `GET /builds/:id/artifacts`. */
export interface ArtifactListing {
  job: string;
  path: string;
  size: number;
  sha256: string;
  mode: number;
  expiresAt: string | null;
  expired: boolean;
  /** Where to download it (relative to the API root). */
  url: string;
}

/**
 * `/builds/:id/artifacts`: the files a build's jobs kept, and each file's content streamed from
 * the object store with `ETag` (its SHA-256), `Range` and `If-None-Match`.
 */
export function artifactRoutes(deps: {
  builds: Pick<BuildService, 'get'>;
  artifacts?: ArtifactStore | undefined;
}) {
  const app = new Hono();

  app.get('/:id/artifacts', async (c) => {
    const buildId = c.req.param('id');
    const manifests = await manifestsOf(deps, buildId, c);
    const now = new Date();
    const artifacts = manifests.flatMap((manifest) =>
      manifest.files.map((file): ArtifactListing => ({
        job: manifest.jobKey,
        path: file.path,
        size: file.size,
        sha256: file.sha256,
        mode: file.mode,
        expiresAt: manifest.expiresAt,
        expired: isPast(manifest.expiresAt, now),
        url: downloadUrl(buildId, manifest.jobKey, file.path),
      })),
    );
    return c.json({ artifacts });
  });

  app.get('/:id/artifacts/:path{.+}', async (c) => {
    const buildId = c.req.param('id');
    const path = c.req.param('path');
    const job = c.req.query('job');
    const manifests = await manifestsOf(deps, buildId, c);
    if (job !== undefined && !manifests.some((manifest) => manifest.jobKey === job)) {
      throw notFound(`job "${job}" of build "${buildId}" kept no artifacts`);
    }
    const matches = manifests
      .filter((manifest) => job === undefined || manifest.jobKey === job)
      .flatMap((manifest) => {
        const file = manifest.files.find((f) => f.path === path);
        return file === undefined ? [] : [{ manifest, file }];
      });
    if (matches.length === 0) throw notFound(`build "${buildId}" has no artifact "${path}"`);
    if (matches.length > 1) {
      const jobs = matches.map((match) => match.manifest.jobKey).join(', ');
      throw new HTTPException(409, {
        message: `artifact "${path}" of build "${buildId}" was kept by several jobs (${jobs}): pick one with ?job=`,
        cause: { code: 'AMBIGUOUS' },
      });
    }
    const { manifest, file } = matches[0]!;
    if (isPast(manifest.expiresAt, new Date())) {
      throw gone(`artifact "${path}" of build "${buildId}" expired at ${manifest.expiresAt}`);
    }
    return serveFile(c, deps.artifacts!, manifest, file);
  });

  return app;
}

/** The build's manifests; 404 naming the build when it has none and does not exist. */
async function manifestsOf(
  deps: { builds: Pick<BuildService, 'get'>; artifacts?: ArtifactStore | undefined },
  buildId: string,
  c: Context,
): Promise<ArtifactManifest[]> {
  if (deps.artifacts === undefined) {
    throw new HTTPException(501, {
      message: `artifacts are not configured on this server (${c.req.path})`,
      cause: { code: 'NOT_CONFIGURED' },
    });
  }
  // An id that cannot be a key segment (`..`, `a/b`) names no build: answer as for any unknown one
  // (the lookup throws NotFoundError) instead of letting the key check below fail the request.
  if (!isValidBuildId(buildId)) {
    await deps.builds.get(buildId);
    throw notFound(`build "${buildId}" not found`);
  }
  const manifests = await deps.artifacts.manifests(buildId).catch((err: unknown) => {
    // A manifest that does not parse is the server's problem, not the request's.
    if (err instanceof InvalidInputError) {
      throw new HTTPException(500, { message: err.message, cause: { code: 'ARTIFACT_MANIFEST_INVALID' } });
    }
    throw err;
  });
  if (manifests.length === 0) await deps.builds.get(buildId); // throws NotFoundError for an unknown build
  return manifests;
}

async function serveFile(
  c: Context,
  artifacts: ArtifactStore,
  manifest: ArtifactManifest,
  file: ArtifactFile,
): Promise<Response> {
  const etag = `"${file.sha256}"`;
  const headers: Record<string, string> = {
    etag,
    'accept-ranges': 'bytes',
    'cache-control': 'private, max-age=0, must-revalidate',
    'content-disposition': contentDisposition(basename(file.path)),
    'content-type': 'application/octet-stream',
  };
  if (matchesEtag(c.req.header('if-none-match'), etag)) return new Response(null, { status: 304, headers });
  // A resumed download names the content it started with in If-Range; when a retried job has
  // since replaced the file, the client gets the whole new file rather than a splice of two.
  const ifRange = c.req.header('if-range');
  const rangeHeader = ifRange === undefined || ifRange.trim() === etag ? c.req.header('range') : undefined;
  const range = parseRangeHeader(rangeHeader, file.size);
  if (range === 'unsatisfiable') {
    return rangeNotSatisfiable(file, headers);
  }
  if (c.req.method === 'HEAD') {
    // Hono answers HEAD through this GET handler and drops the body unread: open nothing.
    const length = range === undefined ? file.size : range.end - range.start + 1;
    if (range !== undefined) headers['content-range'] = `bytes ${range.start}-${range.end}/${file.size}`;
    headers['content-length'] = String(length);
    return new Response(null, { status: range === undefined ? 200 : 206, headers });
  }
  let object;
  try {
    object = await artifacts.openBlob(file, range);
  } catch (err) {
    if (err instanceof RangeNotSatisfiableError) return rangeNotSatisfiable(file, headers);
    throw err;
  }
  if (object === undefined) {
    throw gone(`artifact "${file.path}" of build "${manifest.buildId}" is no longer stored`);
  }
  // `Readable.toWeb` alone queues up to `readableHighWaterMark` *chunks* (thousands): a fast store
  // and a slow client would hold most of the file in memory. One chunk ahead is enough.
  const body = Readable.toWeb(object.body, {
    strategy: new CountQueuingStrategy({ highWaterMark: 1 }),
  }) as ReadableStream<Uint8Array>;
  if (object.range !== undefined) {
    const { start, end } = object.range;
    headers['content-range'] = `bytes ${start}-${end}/${file.size}`;
    headers['content-length'] = String(end - start + 1);
    return new Response(body, { status: 206, headers });
  }
  headers['content-length'] = String(file.size);
  return new Response(body, { status: 200, headers });
}

/**
 * `attachment` with an ASCII fallback name and the exact UTF-8 name (RFC 6266 / 8187): header
 * values are bytes, and a raw non-Latin-1 name would make the response fail.
 */
function contentDisposition(name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function rangeNotSatisfiable(file: ArtifactFile, headers: Record<string, string>): Response {
  return new Response(null, {
    status: 416,
    headers: { ...headers, 'content-range': `bytes */${file.size}` },
  });
}

/** `If-None-Match: "a", "b"` or `*`; weak tags compare equal to strong ones (RFC 9110 weak comparison). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header
    .split(',')
    .map((tag) => tag.trim().replace(/^W\//, ''))
    .some((tag) => tag === '*' || tag === etag);
}

function downloadUrl(buildId: string, job: string, path: string): string {
  const encoded = path.split('/').map(encodeURIComponent).join('/');
  return `/builds/${encodeURIComponent(buildId)}/artifacts/${encoded}?job=${encodeURIComponent(job)}`;
}

function isPast(expiresAt: string | null, now: Date): boolean {
  return expiresAt !== null && Date.parse(expiresAt) <= now.getTime();
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function notFound(message: string): HTTPException {
  return new HTTPException(404, { message, cause: { code: 'NOT_FOUND' } });
}

function gone(message: string): HTTPException {
  return new HTTPException(410, { message, cause: { code: 'GONE' } });
}
