import { z } from 'zod';
import { InvalidInputError } from '../../shared/errors.ts';
import type { ObjectStore } from '../objects/port.ts';

/**
 * The artifact manifest: one JSON object per build and job, at
 * `artifacts/manifests/<buildId>/<jobKey>.json`, listing the files a job kept and the content-addressed
 * blob (`artifacts/sha256/<hex>`) holding each. The manifest is the only thing pointing at blobs, so a
 * blob no unexpired manifest names can be deleted (the retention schedule does this).
 *
 * Version 1 shape, kept stable for every reader:
 * `{ version: 1, buildId, jobKey, attempt, createdAt, expiresAt | null, files: [{ path, sha256, size, mode }] }`.
 */
export interface ArtifactManifest {
  version: 1;
  buildId: string;
  jobKey: string;
  /** The job attempt that produced the files (a retried job overwrites the manifest). */
  attempt: number;
  /** ISO 8601 timestamp of the upload. */
  createdAt: string;
  /** ISO 8601 timestamp after which the artifacts are gone (HTTP 410); `null` keeps them forever. */
  expiresAt: string | null;
  files: ArtifactFile[];
}

/** One kept file: its workspace-relative path, content hash, byte size and POSIX permission bits. */
export interface ArtifactFile {
  /** `/`-separated, relative to the workspace, never absolute, never with a `.` or `..` segment. */
  path: string;
  /** Lowercase hex SHA-256 of the content; the blob key is `artifacts/sha256/<sha256>`. */
  sha256: string;
  size: number;
  /** Permission bits (`0o755` for an executable), so a downloaded script stays runnable. */
  mode: number;
}

/** Key prefix of every artifact object. */
export const ARTIFACTS_PREFIX = 'artifacts/';
/** Key prefix of the manifests (one folder per build). */
export const MANIFESTS_PREFIX = 'artifacts/manifests/';
/** Key prefix of the content-addressed blobs. */
export const BLOBS_PREFIX = 'artifacts/sha256/';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** The object key of the blob holding content with this SHA-256 (lowercase hex). */
export function blobKey(sha256: string): string {
  if (!SHA256_HEX.test(sha256)) throw new InvalidInputError('sha256', `bad sha256 ${JSON.stringify(sha256)}`);
  return `${BLOBS_PREFIX}${sha256}`;
}

/** The object key of the manifest of one build's job. */
export function manifestKey(buildId: string, jobKey: string): string {
  return `${manifestsPrefix(buildId)}${jobKey}.json`;
}

/** The key prefix under which all manifests of one build live. */
export function manifestsPrefix(buildId: string): string {
  return `${MANIFESTS_PREFIX}${buildId}/`;
}

/**
 * Whether `path` is a safe relative artifact path: non-empty, `/`-separated, not absolute, no empty,
 * `.` or `..` segment, no backslash or control character. Returns the reason when it is not.
 */
export function artifactPathProblem(path: string): string | undefined {
  if (path === '') return 'empty';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(path)) return 'control character or backslash';
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return 'absolute path';
  const segments = path.split('/');
  if (segments.includes('..')) return '".." segment escapes the workspace';
  if (segments.some((segment) => segment === '' || segment === '.')) return 'empty or "." segment';
  return undefined;
}

const isoDate = z.iso.datetime({ offset: true });

const manifestSchema = z.strictObject({
  version: z.literal(1),
  buildId: z.string().min(1),
  jobKey: z.string().min(1),
  attempt: z.number().int().min(1),
  createdAt: isoDate,
  expiresAt: isoDate.nullable(),
  files: z.array(
    z.strictObject({
      path: z.string().superRefine((path, ctx) => {
        const problem = artifactPathProblem(path);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `bad path: ${problem}` });
      }),
      sha256: z.string().regex(SHA256_HEX, 'lowercase hex SHA-256'),
      size: z.number().int().min(0),
      mode: z.number().int().min(0).max(0o7777),
    }),
  ),
});

/**
 * Validates a parsed value as a version 1 manifest. Throws {@link InvalidInputError} naming the
 * first bad field (`files.2.path: bad path: ".." segment escapes the workspace`); `where` names the
 * source in the message (a key, a file).
 */
export function parseManifest(value: unknown, where = 'artifact manifest'): ArtifactManifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.join('.');
    throw new InvalidInputError('manifest', `${where}: ${field}: ${issue?.message ?? 'invalid'}`);
  }
  const paths = new Set<string>();
  for (const file of result.data.files) {
    if (paths.has(file.path))
      throw new InvalidInputError('manifest', `${where}: duplicate path ${file.path}`);
    paths.add(file.path);
  }
  return result.data;
}

/** Parses manifest JSON text (see {@link parseManifest}). */
export function parseManifestJson(text: string, where = 'artifact manifest'): ArtifactManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError('manifest', `${where}: not JSON: ${(err as Error).message}`);
  }
  return parseManifest(value, where);
}

/** Whether the manifest's artifacts have expired at `now`. */
export function isExpired(manifest: Pick<ArtifactManifest, 'expiresAt'>, now: Date = new Date()): boolean {
  return manifest.expiresAt !== null && Date.parse(manifest.expiresAt) <= now.getTime();
}

/** Validates and stores a manifest at {@link manifestKey}, replacing an earlier attempt's. */
export async function writeManifest(store: ObjectStore, manifest: ArtifactManifest): Promise<void> {
  const valid = parseManifest(manifest);
  await store.put(
    manifestKey(valid.buildId, valid.jobKey),
    Buffer.from(`${JSON.stringify(valid, null, 2)}\n`),
    {
      contentType: 'application/json',
    },
  );
}

/** Reads and validates one manifest by its object key; `undefined` when there is none. */
export async function readManifestAt(store: ObjectStore, key: string): Promise<ArtifactManifest | undefined> {
  const object = await store.get(key);
  if (object === undefined) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of object.body) chunks.push(chunk as Buffer);
  return parseManifestJson(Buffer.concat(chunks).toString('utf8'), key);
}

/** Reads and validates the manifest of one build's job; `undefined` when the job kept nothing. */
export async function readManifest(
  store: ObjectStore,
  buildId: string,
  jobKey: string,
): Promise<ArtifactManifest | undefined> {
  return readManifestAt(store, manifestKey(buildId, jobKey));
}

/** Every manifest of a build, in key order (job key order). */
export async function listManifests(store: ObjectStore, buildId: string): Promise<ArtifactManifest[]> {
  const manifests: ArtifactManifest[] = [];
  for await (const { key } of store.list(manifestsPrefix(buildId))) {
    if (!key.endsWith('.json')) continue;
    const manifest = await readManifestAt(store, key);
    if (manifest !== undefined) manifests.push(manifest);
  }
  return manifests;
}
