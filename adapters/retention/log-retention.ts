import { chunkFirstSeq, LOGS_PREFIX } from '../logs/chunks.ts';
import type { ObjectStore } from '../objects/port.ts';
import { deleteAll, listAfter, zeroCounts, type SweepCounts, type SweepOptions } from './sweep.ts';

/** Result of {@link deleteExpiredLogs}: builds whose archive was deleted, and its objects and bytes. */
export interface LogSweepCounts extends SweepCounts {
  builds: number;
}

/**
 * Deletes the archived logs (`logs/<build>/<job>/<attempt>/…`) of every build whose last log
 * activity is before `olderThan` (ms since the epoch). A build is kept or deleted whole, so a
 * reader never finds half a build's logs. Its last activity is the latest, over its attempts, of
 * the manifest's `endedAt` (the attempt ended) or, for an attempt without a readable manifest (its
 * runner died, or it still runs), the last write of its newest chunk. Chunks go before manifests,
 * so a sweep cut short leaves what decides the build's age for the next one.
 */
export async function deleteExpiredLogs(
  store: ObjectStore,
  olderThan: number,
  options: SweepOptions & { prefix?: string } = {},
): Promise<LogSweepCounts> {
  const prefix = options.prefix ?? LOGS_PREFIX;
  const pageSize = options.pageSize ?? 500;
  const counts: LogSweepCounts = { builds: 0, ...zeroCounts(), ...options.resume?.counts };
  let after = options.resume?.after;
  let build: { segment: string; objects: { key: string; size: number }[] } | undefined;
  let sinceReport = 0;

  const finishBuild = async (): Promise<void> => {
    if (build === undefined) return;
    const { objects } = build;
    if ((await lastActivity(store, objects)) < olderThan) {
      // Manifests last: while any chunk is left, the manifest still dates the attempt.
      const isManifest = (key: string): boolean => key.endsWith('/manifest.json');
      await deleteAll(
        store,
        [...objects.filter((o) => !isManifest(o.key)), ...objects.filter((o) => isManifest(o.key))],
        counts,
      );
      counts.builds++;
    }
    after = objects.at(-1)?.key ?? after;
    build = undefined;
  };

  for await (const object of listAfter(store, prefix, after)) {
    const segment = object.key.slice(prefix.length).split('/')[0] ?? '';
    if (build !== undefined && build.segment !== segment) await finishBuild();
    build ??= { segment, objects: [] };
    build.objects.push(object);
    if (++sinceReport >= pageSize) {
      sinceReport = 0;
      options.onProgress?.({ after, counts: { ...counts } });
    }
  }
  await finishBuild();
  options.onProgress?.({ after, counts: { ...counts } });
  return counts;
}

/** The latest activity of a build's log objects (ms since the epoch); see {@link deleteExpiredLogs}. */
async function lastActivity(store: ObjectStore, objects: readonly { key: string }[]): Promise<number> {
  const attempts = new Map<
    string,
    { manifest?: string; newestChunk?: { key: string; seq: number }; other: string[] }
  >();
  for (const { key } of objects) {
    const dir = key.slice(0, key.lastIndexOf('/') + 1);
    const attempt = attempts.get(dir) ?? { other: [] };
    attempts.set(dir, attempt);
    const seq = chunkFirstSeq(key);
    if (key.endsWith('/manifest.json')) attempt.manifest = key;
    else if (seq !== undefined && (attempt.newestChunk === undefined || seq > attempt.newestChunk.seq))
      attempt.newestChunk = { key, seq };
    else attempt.other.push(key);
  }
  let latest = 0;
  for (const attempt of attempts.values()) {
    const endedAt = attempt.manifest === undefined ? undefined : await readEndedAt(store, attempt.manifest);
    // Without a manifest's word, the object's own write time; objects Kiln does not know count too.
    const dated = [
      ...(endedAt === undefined ? [attempt.manifest, attempt.newestChunk?.key] : []),
      ...attempt.other,
    ];
    let attemptLatest = endedAt ?? 0;
    for (const key of dated) {
      if (key === undefined) continue;
      const info = await store.head(key);
      // Gone since it was listed (another sweep): it does not keep the build.
      if (info !== undefined) attemptLatest = Math.max(attemptLatest, info.lastModified.getTime());
    }
    latest = Math.max(latest, attemptLatest);
  }
  return latest;
}

/** The `endedAt` of a log manifest, or `undefined` when it is missing or unreadable. */
async function readEndedAt(store: ObjectStore, key: string): Promise<number | undefined> {
  const object = await store.get(key);
  if (object === undefined) return undefined;
  const parts: Buffer[] = [];
  for await (const part of object.body) parts.push(part as Buffer);
  try {
    const { endedAt } = JSON.parse(Buffer.concat(parts).toString('utf8')) as { endedAt?: unknown };
    return typeof endedAt === 'number' && Number.isFinite(endedAt) ? endedAt : undefined;
  } catch {
    return undefined;
  }
}
