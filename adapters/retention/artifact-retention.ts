import {
  BLOBS_PREFIX,
  isExpired,
  MANIFESTS_PREFIX,
  parseManifestJson,
  type ArtifactManifest,
} from '../artifacts/manifest.ts';
import type { ObjectStore } from '../objects/port.ts';
import { deleteAll, listAfter, zeroCounts, type SweepCounts, type SweepOptions } from './sweep.ts';

/** Result of {@link deleteExpiredManifests}; `unreadable` manifests are kept (see there). */
export interface ManifestSweepCounts extends SweepCounts {
  unreadable: number;
}

/**
 * Deletes every artifact manifest whose `expiresAt` is at or before `now`. Its blobs stay until
 * {@link collectUnreferencedBlobs} finds no other manifest naming them. A manifest that cannot be
 * read as one is kept and counted as `unreadable`: nothing says it expired.
 */
export async function deleteExpiredManifests(
  store: ObjectStore,
  now: Date,
  options: SweepOptions & { onUnreadable?: (key: string, error: Error) => void } = {},
): Promise<ManifestSweepCounts> {
  const pageSize = options.pageSize ?? 500;
  const counts: ManifestSweepCounts = { unreadable: 0, ...zeroCounts(), ...options.resume?.counts };
  let after = options.resume?.after;
  let expired: { key: string; size: number }[] = [];
  let examined = 0;
  const flush = async (last: string | undefined): Promise<void> => {
    await deleteAll(store, expired, counts);
    expired = [];
    after = last ?? after;
    options.onProgress?.({ after, counts: { ...counts } });
  };
  for await (const object of listAfter(store, MANIFESTS_PREFIX, after)) {
    if (object.key.endsWith('.json')) {
      const read = await readReferences(store, object.key);
      if (read.manifest === undefined && read.error !== undefined) {
        counts.unreadable++;
        options.onUnreadable?.(object.key, read.error);
      } else if (read.manifest !== undefined && isExpired(read.manifest, now)) {
        expired.push(object);
      }
    }
    if (++examined % pageSize === 0) await flush(object.key);
  }
  await flush(undefined);
  return counts;
}

/**
 * Deletes the blobs (`artifacts/sha256/<hex>`) that no manifest names and that were last written
 * before `modifiedBefore`. First every manifest is read (expired ones too, should one be left:
 * the expiry sweep decides those), reporting progress every page without moving the resume point;
 * then the blobs are walked in pages. The age check keeps a blob whose upload is under way, written
 * before the manifest that will name it. An unreadable manifest protects every SHA-256 its text
 * contains, so a damaged file never frees live blobs. An upload that finds its blob already stored
 * reuses it only while it is younger than half the grace period (`ArtifactStore.refreshAfterMs`)
 * and rewrites it otherwise, so a blob about to be named by a new manifest is never old enough to be
 * collected here.
 */
export async function collectUnreferencedBlobs(
  store: ObjectStore,
  modifiedBefore: Date,
  options: SweepOptions = {},
): Promise<SweepCounts> {
  const pageSize = options.pageSize ?? 500;
  const counts: SweepCounts = { ...zeroCounts(), ...options.resume?.counts };
  let after = options.resume?.after;
  // Reading the manifests reports the unchanged resume point: only blob keys move `after`.
  const referenced = await referencedBlobs(store, pageSize, () =>
    options.onProgress?.({ after, counts: { ...counts } }),
  );
  let candidates: { key: string; size: number }[] = [];
  let examined = 0;
  const flush = async (last: string | undefined): Promise<void> => {
    const old: { key: string; size: number }[] = [];
    for (const candidate of candidates) {
      const info = await store.head(candidate.key);
      if (info !== undefined && info.lastModified < modifiedBefore)
        old.push({ key: info.key, size: info.size });
    }
    await deleteAll(store, old, counts);
    candidates = [];
    after = last ?? after;
    options.onProgress?.({ after, counts: { ...counts } });
  };
  for await (const object of listAfter(store, BLOBS_PREFIX, after)) {
    const hex = object.key.slice(BLOBS_PREFIX.length);
    if (!referenced.has(hex)) candidates.push(object);
    if (++examined % pageSize === 0) await flush(object.key);
  }
  await flush(undefined);
  return counts;
}

/**
 * The SHA-256 of every file any manifest names. Calls `onPage` after every `pageSize` manifests
 * read, so that a long read keeps heartbeating (and stops there when cancelled).
 */
async function referencedBlobs(
  store: ObjectStore,
  pageSize: number,
  onPage: () => void,
): Promise<Set<string>> {
  const referenced = new Set<string>();
  let manifestsRead = 0;
  for await (const { key } of store.list(MANIFESTS_PREFIX)) {
    if (!key.endsWith('.json')) continue;
    const read = await readReferences(store, key);
    if (read.manifest !== undefined) for (const file of read.manifest.files) referenced.add(file.sha256);
    else for (const hex of read.text?.match(/[0-9a-f]{64}/g) ?? []) referenced.add(hex);
    if (++manifestsRead % pageSize === 0) onPage();
  }
  return referenced;
}

/** A manifest, or why it could not be read (with its raw text); nothing when it is gone. */
async function readReferences(
  store: ObjectStore,
  key: string,
): Promise<{ manifest?: ArtifactManifest; text?: string; error?: Error }> {
  const object = await store.get(key);
  if (object === undefined) return {};
  const parts: Buffer[] = [];
  for await (const part of object.body) parts.push(part as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  try {
    return { manifest: parseManifestJson(text, key) };
  } catch (err) {
    return { text, error: err as Error };
  }
}
