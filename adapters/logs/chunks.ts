/**
 * The archive's layout in the object store, shared by the archiver (writer) and the archived log
 * store (reader):
 *
 * - `logs/<build>/<job>/<attempt>/<firstSeq>.log.gz`: a chunk, gzip of NDJSON lines
 *   `{"seq","ts","stream","text"}` in seq order; `firstSeq` is zero-padded to 12 digits so keys
 *   sort like seqs. Writing a chunk again (after a restart) gives the same key: idempotent.
 * - `logs/<build>/<job>/<attempt>/manifest.json`: written once the attempt ended; see {@link LogManifest}.
 *
 * Ids become key segments through `encodeURIComponent` (plus `.`/`..` escaped), so any id is safe
 * and ordinary ids read as themselves.
 */
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';
import type { ObjectStore } from '../objects/port.ts';
import type { LogLine, LogTarget } from './port.ts';

export const LOGS_PREFIX = 'logs/';
export const CHUNK_CONTENT_TYPE = 'application/gzip';
const SEQ_DIGITS = 12;
const CHUNK_KEY = /^(\d+)\.log\.gz$/;

/** One line as a chunk stores it: build, job and attempt are given by the key. */
export interface StoredLine {
  seq: number;
  ts: number;
  stream: LogLine['stream'];
  text: string;
}

/** Written when an attempt ended, after its last chunk: the log is complete. */
export interface LogManifest extends LogTarget {
  /** The last seq the writer announced (0: no line). */
  lastSeq: number;
  /** When the writer ended the attempt (ms since the epoch). */
  endedAt: number;
  archivedAt: number;
  /** Every chunk, in seq order. */
  chunks: { key: string; firstSeq: number; size: number }[];
}

export function keySegment(id: string): string {
  const encoded = encodeURIComponent(id);
  return encoded === '.' || encoded === '..' ? encoded.replace(/\./g, '%2E') : encoded;
}

/** `logs/<build>/<job>/` */
export function jobPrefix(buildId: string, jobKey: string, prefix = LOGS_PREFIX): string {
  return `${prefix}${keySegment(buildId)}/${keySegment(jobKey)}/`;
}

/** `logs/<build>/<job>/<attempt>/` */
export function attemptPrefix(target: LogTarget, prefix = LOGS_PREFIX): string {
  return `${jobPrefix(target.buildId, target.jobKey, prefix)}${target.attempt}/`;
}

export function chunkKey(target: LogTarget, firstSeq: number, prefix = LOGS_PREFIX): string {
  return `${attemptPrefix(target, prefix)}${String(firstSeq).padStart(SEQ_DIGITS, '0')}.log.gz`;
}

export function manifestKey(target: LogTarget, prefix = LOGS_PREFIX): string {
  return `${attemptPrefix(target, prefix)}manifest.json`;
}

/** The first seq of a chunk key, or `undefined` for another key. */
export function chunkFirstSeq(key: string): number | undefined {
  const match = CHUNK_KEY.exec(key.slice(key.lastIndexOf('/') + 1));
  return match === null ? undefined : Number(match[1]);
}

const gzipAsync = promisify(gzip);

/** A chunk's bytes: NDJSON lines already serialized by {@link serializeLine}, gzipped. */
export function encodeChunk(ndjson: string[], level = 4): Promise<Buffer> {
  return gzipAsync(Buffer.from(ndjson.join('')), { level });
}

export function serializeLine(line: LogLine): string {
  return `${JSON.stringify({ seq: line.seq, ts: line.ts, stream: line.stream, text: line.text })}\n`;
}

/** The chunks of an attempt, listed from the store, in seq order. */
export async function listChunks(
  objects: ObjectStore,
  target: LogTarget,
  prefix = LOGS_PREFIX,
): Promise<{ key: string; firstSeq: number; size: number }[]> {
  const chunks: { key: string; firstSeq: number; size: number }[] = [];
  for await (const object of objects.list(attemptPrefix(target, prefix))) {
    const firstSeq = chunkFirstSeq(object.key);
    if (firstSeq !== undefined) chunks.push({ key: object.key, firstSeq, size: object.size });
  }
  return chunks.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Streams the lines of one chunk (gunzip and parse as they arrive); a missing chunk yields nothing. */
export async function* readChunk(objects: ObjectStore, key: string): AsyncIterable<StoredLine> {
  const object = await objects.get(key);
  if (object === undefined) return;
  const gunzip = createGunzip();
  object.body.on('error', (err) => gunzip.destroy(err));
  const lines = createInterface({ input: object.body.pipe(gunzip), crlfDelay: Infinity });
  try {
    for await (const text of lines) {
      if (text === '') continue;
      const line = parseStoredLine(text);
      if (line === undefined) throw new Error(`${key}: not a log line: ${text.slice(0, 80)}`);
      yield line;
    }
  } finally {
    lines.close();
    object.body.destroy();
    gunzip.destroy();
  }
}

export async function readManifest(
  objects: ObjectStore,
  target: LogTarget,
  prefix = LOGS_PREFIX,
): Promise<LogManifest | undefined> {
  const object = await objects.get(manifestKey(target, prefix));
  if (object === undefined) return undefined;
  const parts: Buffer[] = [];
  for await (const part of object.body) parts.push(part as Buffer);
  return JSON.parse(Buffer.concat(parts).toString('utf8')) as LogManifest;
}

function parseStoredLine(text: string): StoredLine | undefined {
  try {
    const raw = JSON.parse(text) as Partial<StoredLine>;
    if (typeof raw.seq !== 'number' || typeof raw.text !== 'string') return undefined;
    return { seq: raw.seq, ts: raw.ts ?? 0, stream: raw.stream ?? 'stdout', text: raw.text };
  } catch {
    return undefined;
  }
}
