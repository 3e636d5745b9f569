import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import {
  checkObjectKey,
  checkRange,
  RangeNotSatisfiableError,
  type GetOptions,
  type ListedObject,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
} from './port.ts';

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';
const MiB = 1024 * 1024;

export interface S3ObjectStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket (e.g. `kiln/`), so several installations can share one. @default '' */
  prefix?: string;
  /** S3-compatible endpoint (MinIO, Ceph, …); omit for AWS. Addressed path-style. */
  endpoint?: string;
  /** @default 'us-east-1' */
  region?: string;
  /** Static credentials; omit to use the SDK's default chain (environment, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /**
   * Bodies up to this size (known in advance) go in one PUT; larger or unknown-length ones use a
   * multipart upload of parts this size, `uploadConcurrency` at a time. Memory used by one upload
   * is at most `partSize * (uploadConcurrency + 1)`.
   * @default 8 MiB
   */
  partSize?: number;
  /** @default 4 */
  uploadConcurrency?: number;
  /** Use this client instead of making one (then `destroy` leaves it open). */
  client?: S3Client;
}

/**
 * The production object store: one S3 bucket (or any S3-compatible server), path-style. Large and
 * streamed bodies go up as multipart uploads (so a 5 GB artifact never sits in memory), and an
 * interrupted multipart upload is aborted, leaving the previous object in place.
 */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #prefix: string;
  readonly #client: S3Client;
  readonly #ownsClient: boolean;
  readonly #partSize: number;
  readonly #concurrency: number;

  constructor(options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.#prefix = options.prefix ?? '';
    this.#partSize = Math.max(5 * MiB, options.partSize ?? 8 * MiB);
    this.#concurrency = options.uploadConcurrency ?? 4;
    this.#ownsClient = options.client === undefined;
    this.#client =
      options.client ??
      new S3Client({
        endpoint: options.endpoint,
        region: options.region ?? 'us-east-1',
        forcePathStyle: true,
        credentials: options.credentials,
        // Checksums only where S3 requires them: the other S3 servers do not all speak the newer ones.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<StoredObject> {
    const Key = this.#key(key);
    const ContentType = options.contentType ?? DEFAULT_CONTENT_TYPE;
    const length = Buffer.isBuffer(body) ? body.length : options.contentLength;
    if (Buffer.isBuffer(body) && body.length <= this.#partSize) {
      const out = await this.#client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentType }),
      );
      return { size: body.length, etag: unquote(out.ETag) };
    }
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.bucket, Key, Body: body, ContentType, ContentLength: length },
      partSize: this.#partSize,
      queueSize: this.#concurrency,
      leavePartsOnError: false,
    });
    const out = await upload.done();
    // A multipart upload does not report the size; ask for it (one HEAD per large object).
    const size = length ?? (await this.head(key))?.size ?? 0;
    return { size, etag: unquote(out.ETag) };
  }

  async get(key: string, options: GetOptions = {}): Promise<ObjectBody | undefined> {
    const { range } = options;
    if (range !== undefined) checkRange(range);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.#key(key),
          Range: range === undefined ? undefined : `bytes=${range.start}-${range.end ?? ''}`,
        }),
      );
      const body = out.Body as Readable;
      const info: ObjectInfo = {
        key,
        size: totalSize(out.ContentRange) ?? out.ContentLength ?? 0,
        etag: unquote(out.ETag),
        contentType: out.ContentType ?? DEFAULT_CONTENT_TYPE,
        lastModified: out.LastModified ?? new Date(0),
      };
      const served = servedRange(out.ContentRange);
      return served === undefined ? { ...info, body } : { ...info, body, range: served };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      if (isStatus(err, 416)) {
        const size = (await this.head(key))?.size;
        if (size === undefined) return undefined;
        throw new RangeNotSatisfiableError(key, size);
      }
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }),
      );
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: unquote(out.ETag),
        contentType: out.ContentType ?? DEFAULT_CONTENT_TYPE,
        lastModified: out.LastModified ?? new Date(0),
      };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    const pages = paginateListObjectsV2(
      { client: this.#client, pageSize: 1000 },
      { Bucket: this.bucket, Prefix: this.#prefix + prefix },
    );
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined) continue;
        yield { key: object.Key.slice(this.#prefix.length), size: object.Size ?? 0 };
      }
    }
  }

  async delete(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.#key(key) }));
  }

  /** Closes the client's sockets (only a client this store made). */
  destroy(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  #key(key: string): string {
    return this.#prefix + checkObjectKey(key);
  }
}

function isStatus(err: unknown, status: number): boolean {
  if (err instanceof S3ServiceException) return err.$metadata.httpStatusCode === status;
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === status;
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^(W\/)?"|"$/g, '');
}

/** `bytes 0-99/1234` → 1234. */
function totalSize(contentRange: string | undefined): number | undefined {
  const total = contentRange?.split('/')[1];
  return total === undefined || total === '*' ? undefined : Number(total);
}

/** `bytes 0-99/1234` → { start: 0, end: 99 }. */
function servedRange(contentRange: string | undefined): { start: number; end: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\//.exec(contentRange ?? '');
  return match === null ? undefined : { start: Number(match[1]), end: Number(match[2]) };
}
