import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  checkObjectKey,
  resolveRange,
  type GetOptions,
  type ListedObject,
  type ObjectBody,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type StoredObject,
} from './port.ts';

const DEFAULT_CONTENT_TYPE = 'application/octet-stream';

/**
 * The embedded object store: one local directory. Bodies live under `<root>/data/<key>`, their
 * content type under `<root>/meta/<key>`; writes go to `<root>/tmp` first, are flushed to disk,
 * then renamed into place, so readers never see a partial object and a crash leaves no debris but
 * in `tmp`. The ETag comes from the file's inode, size and mtime, read from the same open file as
 * the body, so it always matches the bytes served.
 *
 * Unlike S3, a key cannot be both an object and a prefix of another (`a` and `a/b`): such a `put`
 * fails.
 */
export class DirObjectStore implements ObjectStore {
  readonly root: string;

  constructor(options: { root: string }) {
    this.root = options.root;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions = {}): Promise<StoredObject> {
    const dataPath = this.#path('data', key);
    const metaPath = this.#path('meta', key);
    const tmp = join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    const dataTmp = join(tmp, randomBytes(12).toString('hex'));
    const metaTmp = `${dataTmp}.meta`;
    try {
      await pipeline(
        Buffer.isBuffer(body) ? Readable.from([body]) : body,
        createWriteStream(dataTmp, { flush: true }),
      );
      const stats = await stat(dataTmp);
      await writeFile(metaTmp, JSON.stringify({ contentType: options.contentType ?? DEFAULT_CONTENT_TYPE }));
      await Promise.all([
        mkdir(dirname(dataPath), { recursive: true }),
        mkdir(dirname(metaPath), { recursive: true }),
      ]);
      await rename(metaTmp, metaPath);
      await rename(dataTmp, dataPath);
      return { size: stats.size, etag: etagOf(stats) };
    } finally {
      await Promise.all([rm(dataTmp, { force: true }), rm(metaTmp, { force: true })]);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<ObjectBody | undefined> {
    const file = await open(this.#path('data', key), 'r').catch(missingAsUndefined);
    if (file === undefined) return undefined;
    try {
      const stats = await file.stat();
      const info = await this.#info(key, stats);
      const range = resolveRange(key, stats.size, options.range);
      // The stream owns the handle from here and closes it when done or destroyed.
      const body = createReadStream('', { fd: file, start: range?.start, end: range?.end });
      return range === undefined ? { ...info, body } : { ...info, body, range };
    } catch (err) {
      await file.close();
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const stats = await stat(this.#path('data', key)).catch(missingAsUndefined);
    return stats === undefined ? undefined : this.#info(key, stats);
  }

  async *list(prefix: string): AsyncIterable<ListedObject> {
    // Walk only the deepest directory the prefix names, then filter and sort the keys found.
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    if (base !== '') checkObjectKey(base);
    const keys: ListedObject[] = [];
    await this.#walk(base, prefix, keys);
    keys.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    yield* keys;
  }

  async delete(key: string): Promise<void> {
    await unlink(this.#path('data', key)).catch(missingAsUndefined);
    await unlink(this.#path('meta', key)).catch(missingAsUndefined);
  }

  async #walk(dirKey: string, prefix: string, into: ListedObject[]): Promise<void> {
    const dir = dirKey === '' ? join(this.root, 'data') : join(this.root, 'data', ...dirKey.split('/'));
    const entries = await readdir(dir, { withFileTypes: true }).catch(missingAsUndefined);
    for (const entry of entries ?? []) {
      const key = dirKey === '' ? entry.name : `${dirKey}/${entry.name}`;
      if (entry.isDirectory()) {
        if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix)) {
          await this.#walk(key, prefix, into);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const stats = await stat(join(dir, entry.name)).catch(missingAsUndefined);
        if (stats !== undefined) into.push({ key, size: stats.size });
      }
    }
  }

  async #info(key: string, stats: Stats): Promise<ObjectInfo> {
    const meta = await readFile(this.#path('meta', key), 'utf8').catch(missingAsUndefined);
    let contentType = DEFAULT_CONTENT_TYPE;
    if (meta !== undefined) {
      try {
        contentType = (JSON.parse(meta) as { contentType?: string }).contentType ?? contentType;
      } catch {
        // A torn metadata file only loses the content type.
      }
    }
    return { key, size: stats.size, etag: etagOf(stats), contentType, lastModified: stats.mtime };
  }

  #path(area: 'data' | 'meta', key: string): string {
    return join(this.root, area, ...checkObjectKey(key).split('/'));
  }
}

function etagOf(stats: Stats): string {
  return `${stats.ino.toString(16)}-${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}`;
}

/** Missing files (or a file where a directory was expected) read as "no such object". */
function missingAsUndefined(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return undefined;
  throw err;
}
