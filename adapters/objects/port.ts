import type { Readable } from 'node:stream';
import { InvalidInputError, KilnError } from '../../shared/errors.ts';

/**
 * Where Kiln keeps blobs: archived log chunks, artifacts, caches. Keys are `/`-separated paths
 * (`logs/<build>/<job>/<attempt>/<seq>.log.gz`), validated by {@link checkObjectKey} in every
 * adapter, so a key never escapes its store.
 *
 * Guarantees every adapter gives (checked by the contract suite):
 * - `put` is atomic: a reader sees the old object or the whole new one, never a part; a failed or
 *   interrupted `put` leaves the old object (or nothing). Writing the same key again replaces it.
 * - Bodies stream both ways: neither `put` of a `Readable` nor `get` holds a whole object in memory.
 * - `get`, `head` of a missing key return `undefined`; `delete` of a missing key succeeds.
 * - `list` yields every key under a prefix once, in ascending (byte) order, as pages are fetched.
 * - Read-after-write: once `put` resolves, `get`, `head` and `list` see the object.
 *
 * The adapters hold connection pools only; they need no start and no stop, except `destroy` on the
 * S3 one to close sockets early.
 */
export interface ObjectStore {
  put(key: string, body: Buffer | Readable, options?: PutOptions): Promise<StoredObject>;
  /** The object's body (or a byte range of it) as a stream; `undefined` when there is none. */
  get(key: string, options?: GetOptions): Promise<ObjectBody | undefined>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Keys starting with `prefix` (a plain string prefix, not only whole segments), ascending. */
  list(prefix: string): AsyncIterable<ListedObject>;
  delete(key: string): Promise<void>;
}

export interface PutOptions {
  /** @default 'application/octet-stream' */
  contentType?: string;
  /** Byte length of a streamed body when known; lets an adapter skip multipart for small bodies. */
  contentLength?: number;
}

export interface GetOptions {
  /** Inclusive byte range, as in HTTP `Range: bytes=start-end`; `end` defaults to the last byte. */
  range?: { start: number; end?: number };
}

export interface StoredObject {
  size: number;
  /** Opaque version tag of the content, without quotes (quote it for an HTTP `ETag`). */
  etag: string;
}

export interface ObjectInfo extends StoredObject {
  key: string;
  contentType: string;
  lastModified: Date;
}

export interface ObjectBody extends ObjectInfo {
  /** The bytes asked for; destroy it to stop reading early. */
  body: Readable;
  /** The inclusive range `body` holds, when a range was asked for. `size` is the whole object's. */
  range?: { start: number; end: number };
}

export interface ListedObject {
  key: string;
  size: number;
}

/** A range starting at or beyond the end of the object (HTTP 416). */
export class RangeNotSatisfiableError extends KilnError {
  readonly key: string;
  readonly size: number;
  constructor(key: string, size: number) {
    super('RANGE_NOT_SATISFIABLE', `range not satisfiable for ${key} (${size} bytes)`);
    this.name = 'RangeNotSatisfiableError';
    this.key = key;
    this.size = size;
  }
}

const MAX_KEY_BYTES = 1024;

/**
 * Rejects keys that could escape a store or that S3 and a file system would read differently:
 * empty, longer than 1024 bytes, starting with `/`, with an empty, `.` or `..` segment, a
 * backslash, or a control character.
 */
export function checkObjectKey(key: string): string {
  const reason = keyProblem(key);
  if (reason !== undefined)
    throw new InvalidInputError('key', `bad object key ${JSON.stringify(key)}: ${reason}`);
  return key;
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'empty';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `longer than ${MAX_KEY_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(key)) return 'control character or backslash';
  if (key.startsWith('/')) return 'absolute';
  if (key.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
    return 'empty, "." or ".." segment';
  }
  return undefined;
}

/** Checks a range against an object's size; returns the inclusive range to serve. */
export function resolveRange(
  key: string,
  size: number,
  range: GetOptions['range'],
): { start: number; end: number } | undefined {
  if (range === undefined) return undefined;
  const { start } = checkRange(range);
  if (start >= size) throw new RangeNotSatisfiableError(key, size);
  return { start, end: Math.min(range.end ?? size - 1, size - 1) };
}

/** Rejects a range that no object could satisfy (negative, reversed, not an integer). */
export function checkRange(range: NonNullable<GetOptions['range']>): NonNullable<GetOptions['range']> {
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    (end !== undefined && (!Number.isSafeInteger(end) || end < start))
  ) {
    throw new InvalidInputError('range', `bad range ${JSON.stringify(range)}`);
  }
  return range;
}
