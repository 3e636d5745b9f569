import { pipeline, type Readable } from 'node:stream';
import { FailureCodes, KilnError } from '../../shared/errors.ts';
import type { GetOptions, ObjectBody, ObjectStore } from '../objects/port.ts';
import { digestStream, verifyingStream } from './hashing.ts';
import {
  blobKey,
  isExpired,
  listManifests,
  readManifest,
  writeManifest,
  type ArtifactFile,
  type ArtifactManifest,
} from './manifest.ts';

const DAY_MS = 86_400_000;

/** Options of {@link ArtifactStore}. */
export interface ArtifactStoreOptions {
  objects: ObjectStore;
  /** How long artifacts of a job without `expire_in` are kept; `null` keeps them forever. @default 30 days */
  defaultExpireMs?: number | null;
  /**
   * An existing blob last written longer ago than this is written again instead of reused, so the
   * retention sweep (which only collects unreferenced blobs older than its grace period) cannot
   * delete it between this upload and the manifest that will name it. Keep it well under the
   * sweep's grace period. @default 30 minutes (half the default grace)
   */
  refreshAfterMs?: number;
}

/** A file to keep: where it goes in the manifest, and how to read it (twice: hash, then upload). */
export interface FileToKeep {
  path: string;
  size: number;
  mode: number;
  open(): Promise<Readable>;
}

/**
 * Content-addressed artifacts over an {@link ObjectStore}: each distinct content is one blob at
 * `artifacts/sha256/<hex>`, uploaded once however many jobs and builds produce it; a manifest per
 * build and job (see `manifest.ts`) maps paths to blobs. Nothing here holds a whole file in memory.
 */
export class ArtifactStore {
  readonly objects: ObjectStore;
  readonly defaultExpireMs: number | null;
  readonly refreshAfterMs: number;

  constructor(options: ArtifactStoreOptions) {
    this.objects = options.objects;
    this.defaultExpireMs = options.defaultExpireMs === undefined ? 30 * DAY_MS : options.defaultExpireMs;
    this.refreshAfterMs = options.refreshAfterMs ?? 30 * 60_000;
  }

  /**
   * Stores one file's content: hashes it in a first read, asks whether the blob exists, and only
   * if not streams it up in a second read that is checked against the hash on the way (a file
   * that changed in between fails the upload rather than storing content under the wrong hash).
   * A stored blob older than `refreshAfterMs` is rewritten (see the option) rather than reused.
   */
  async putFile(file: FileToKeep): Promise<ArtifactFile & { uploaded: boolean }> {
    const { sha256, size } = await digestStream(await file.open());
    const key = blobKey(sha256);
    const existing = await this.objects.head(key);
    const entry = { path: file.path, sha256, size, mode: file.mode };
    const recent =
      existing !== undefined && Date.now() - existing.lastModified.getTime() < this.refreshAfterMs;
    if (existing !== undefined && existing.size === size && recent) return { ...entry, uploaded: false };
    const body = pipeline(
      await file.open(),
      verifyingStream({ sha256, size }, `artifact "${file.path}"`),
      noop,
    );
    await this.objects.put(key, body, { contentLength: size });
    return { ...entry, uploaded: true };
  }

  /**
   * Uploads a job's files and then its manifest, which replaces an earlier attempt's. The manifest
   * goes last, so whoever reads it finds every blob it names.
   */
  async publish(
    target: { buildId: string; jobKey: string; attempt: number; expireInMs?: number | null },
    files: readonly FileToKeep[],
    now: Date = new Date(),
  ): Promise<{ manifest: ArtifactManifest; uploaded: number }> {
    const entries: ArtifactFile[] = [];
    let uploaded = 0;
    for (const file of files) {
      const { uploaded: fresh, ...entry } = await this.putFile(file);
      entries.push(entry);
      if (fresh) uploaded++;
    }
    // A long publish can leave its first blobs older than the refresh age, unreferenced until the
    // manifest lands: write those again (`putFile` rewrites an old blob) so none can be collected.
    for (const [index, entry] of entries.entries()) {
      const info = await this.objects.head(blobKey(entry.sha256));
      if (info !== undefined && Date.now() - info.lastModified.getTime() < this.refreshAfterMs) continue;
      await this.putFile(files[index]!);
    }
    const expireMs = target.expireInMs === undefined ? this.defaultExpireMs : target.expireInMs;
    const manifest: ArtifactManifest = {
      version: 1,
      buildId: target.buildId,
      jobKey: target.jobKey,
      attempt: target.attempt,
      createdAt: now.toISOString(),
      expiresAt: expireMs === null ? null : new Date(now.getTime() + expireMs).toISOString(),
      files: entries,
    };
    await writeManifest(this.objects, manifest);
    return { manifest, uploaded };
  }

  /** Every manifest of a build (one per job that kept files), in job key order. */
  async manifests(buildId: string): Promise<ArtifactManifest[]> {
    return listManifests(this.objects, buildId);
  }

  /** The manifest of one build's job, or `undefined`. */
  async manifest(buildId: string, jobKey: string): Promise<ArtifactManifest | undefined> {
    return readManifest(this.objects, buildId, jobKey);
  }

  /** A file's content (or a range of it), streamed from its blob; `undefined` when the blob is gone. */
  async openBlob(file: ArtifactFile, range?: GetOptions['range']): Promise<ObjectBody | undefined> {
    return this.objects.get(blobKey(file.sha256), range === undefined ? {} : { range });
  }

  /** A whole file's content, checked against its hash while it flows. */
  async openVerified(file: ArtifactFile): Promise<Readable> {
    const object = await this.openBlob(file);
    if (object === undefined) {
      // Gone for good (deleted, or its store lost it): another attempt would fail the same way.
      throw new KilnError(
        FailureCodes.ARTIFACT_INVALID,
        `artifact "${file.path}": blob ${file.sha256} is no longer in the object store`,
      );
    }
    return pipeline(object.body, verifyingStream(file, `artifact "${file.path}"`), noop);
  }

  /** Whether a manifest's files may still be served or placed. */
  isExpired(manifest: ArtifactManifest, now: Date = new Date()): boolean {
    return isExpired(manifest, now);
  }
}

/** `pipeline` reports errors by destroying the last stream, whose reader sees them; nothing more to do. */
function noop(): void {}
