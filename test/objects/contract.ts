import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RangeNotSatisfiableError, type ObjectStore } from '../../adapters/objects/port.ts';
import { InvalidInputError } from '../../shared/errors.ts';

export async function readAll(body: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of body) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Bodies from a generator, so nothing but the current part is in memory. */
export function streamOf(parts: Iterable<Buffer>): Readable {
  return Readable.from(parts, { objectMode: false });
}

export const BAD_KEYS = [
  '',
  '/etc/passwd',
  '../escape',
  'a/../../escape',
  'a//b',
  'a/./b',
  'a/b/',
  'a\\..\\b',
  'nul\0byte',
  '..',
];

/**
 * What every ObjectStore adapter guarantees (see adapters/objects/port.ts). `store()` is called
 * inside the tests, after the suite's setup ran.
 */
export function objectStoreContract(name: string, store: () => ObjectStore): void {
  describe(`${name}: ObjectStore contract`, () => {
    const base = `contract-${randomUUID()}`;

    it('puts and gets a buffer with its content type, size and etag; head agrees', async () => {
      const objects = store();
      const body = Buffer.from('hello, objects ✓');
      const stored = await objects.put(`${base}/a.txt`, body, { contentType: 'text/plain' });
      expect(stored.size).toBe(body.length);
      expect(stored.etag).not.toBe('');
      const got = await objects.get(`${base}/a.txt`);
      expect(got).toBeDefined();
      expect(await readAll(got!.body)).toEqual(body);
      expect(got).toMatchObject({
        key: `${base}/a.txt`,
        size: body.length,
        contentType: 'text/plain',
        etag: stored.etag,
      });
      const head = await objects.head(`${base}/a.txt`);
      expect(head).toMatchObject({ size: body.length, contentType: 'text/plain', etag: stored.etag });
      expect(head?.lastModified.getTime()).toBeGreaterThan(Date.now() - 3_600_000);
    });

    it('returns undefined for a missing key, and deleting one succeeds', async () => {
      const objects = store();
      expect(await objects.get(`${base}/missing`)).toBeUndefined();
      expect(await objects.head(`${base}/missing`)).toBeUndefined();
      await objects.delete(`${base}/missing`);
    });

    it('streams a body of unknown length, and a rewrite replaces the object and its etag', async () => {
      const objects = store();
      const key = `${base}/streamed.bin`;
      const parts = Array.from({ length: 40 }, (_, i) => Buffer.alloc(64 * 1024, i));
      const first = await objects.put(key, streamOf(parts));
      expect(first.size).toBe(40 * 64 * 1024);
      const got = await objects.get(key);
      expect(sha256(await readAll(got!.body))).toBe(sha256(Buffer.concat(parts)));
      const second = await objects.put(key, Buffer.from('small now'));
      expect(second.etag).not.toBe(first.etag);
      expect((await readAll((await objects.get(key))!.body)).toString()).toBe('small now');
      await objects.delete(key);
      expect(await objects.head(key)).toBeUndefined();
    });

    it('serves byte ranges and refuses one past the end', async () => {
      const objects = store();
      const key = `${base}/range.txt`;
      await objects.put(key, Buffer.from('0123456789'));
      const middle = await objects.get(key, { range: { start: 2, end: 5 } });
      expect((await readAll(middle!.body)).toString()).toBe('2345');
      expect(middle).toMatchObject({ size: 10, range: { start: 2, end: 5 } });
      const tail = await objects.get(key, { range: { start: 7 } });
      expect((await readAll(tail!.body)).toString()).toBe('789');
      expect(tail?.range).toEqual({ start: 7, end: 9 });
      const clipped = await objects.get(key, { range: { start: 8, end: 100 } });
      expect((await readAll(clipped!.body)).toString()).toBe('89');
      await expect(objects.get(key, { range: { start: 10 } })).rejects.toBeInstanceOf(
        RangeNotSatisfiableError,
      );
    });

    it('lists keys under a prefix once each, in byte order, with sizes', async () => {
      const objects = store();
      const keys = ['l/b', 'l/a/2', 'l/a/10', 'l/a-b', 'l/c/d/e', 'lx/other'].map((k) => `${base}/${k}`);
      await Promise.all(keys.map((key, i) => objects.put(key, Buffer.alloc(i + 1))));
      const listed = await collect(objects.list(`${base}/l/`));
      const expected = keys
        .filter((k) => k.startsWith(`${base}/l/`))
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(listed.map((o) => o.key)).toEqual(expected);
      expect(listed.find((o) => o.key === `${base}/l/c/d/e`)?.size).toBe(5);
      // A plain string prefix, not only whole segments.
      expect((await collect(objects.list(`${base}/l/a`))).map((o) => o.key)).toEqual([
        `${base}/l/a-b`,
        `${base}/l/a/10`,
        `${base}/l/a/2`,
      ]);
      expect(await collect(objects.list(`${base}/nothing/`))).toEqual([]);
    });

    it('keeps the old object when a streamed put fails midway', async () => {
      const objects = store();
      const key = `${base}/atomic.txt`;
      await objects.put(key, Buffer.from('old content'));
      const failing = new Readable({
        read() {
          this.push(Buffer.alloc(256 * 1024, 1));
          setTimeout(() => this.destroy(new Error('the producer broke')), 10);
        },
      });
      await expect(objects.put(key, failing)).rejects.toThrow();
      expect((await readAll((await objects.get(key))!.body)).toString()).toBe('old content');
    });

    it('rejects keys that could escape the store', async () => {
      const objects = store();
      for (const key of BAD_KEYS) {
        await expect(objects.put(key, Buffer.from('x')), key).rejects.toBeInstanceOf(InvalidInputError);
        await expect(objects.get(key), key).rejects.toBeInstanceOf(InvalidInputError);
        await expect(objects.delete(key), key).rejects.toBeInstanceOf(InvalidInputError);
      }
    });
  });
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
