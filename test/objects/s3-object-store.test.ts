import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';
import { objectStoreContract } from './contract.ts';

let s3: RunningS3;
let store: S3ObjectStore;

beforeAll(async () => {
  s3 = await startS3({ onProgress: (m) => console.log(`[s3] ${m}`) });
  store = new S3ObjectStore({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    partSize: 8 * 1024 * 1024,
    uploadConcurrency: 2,
  });
}, 600_000); // the first run on a machine builds MinIO (minutes)
afterAll(async () => {
  store?.destroy();
  await s3?.stop();
});

objectStoreContract('S3ObjectStore (MinIO)', () => store);

describe('S3ObjectStore', () => {
  it('streams a 200 MB object up (multipart) and down with bounded memory', async () => {
    const MiB = 1024 * 1024;
    const total = 200 * MiB;
    const block = Buffer.alloc(MiB);
    for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((i * 2654435761) >>> 0, i);
    const sent = createHash('sha256');
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced === total) return void this.push(null);
        // A fresh copy per part with a distinct first word, like real data would be.
        const part = Buffer.from(block);
        part.writeUInt32LE(produced / MiB, 0);
        produced += part.length;
        sent.update(part);
        this.push(part);
      },
    });
    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
    try {
      const key = `big/${randomUUID()}.bin`;
      const stored = await store.put(key, body);
      expect(stored.size).toBe(total);
      const got = await store.get(key);
      expect(got?.size).toBe(total);
      const received = createHash('sha256');
      let bytes = 0;
      for await (const part of got!.body) {
        received.update(part as Buffer);
        bytes += (part as Buffer).length;
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      expect(bytes).toBe(total);
      expect(received.digest('hex')).toBe(sent.digest('hex'));
      await store.delete(key);
    } finally {
      clearInterval(sampler);
    }
    const growthMiB = (peak - baseline) / MiB;
    console.log(`200 MB through S3: peak RSS growth ${growthMiB.toFixed(0)} MiB`);
    expect(growthMiB).toBeLessThan(100);
  }, 120_000);

  it('keeps several installations apart with a key prefix', async () => {
    const prefixed = new S3ObjectStore({
      endpoint: s3.endpoint,
      bucket: s3.bucket,
      prefix: 'tenant-a/',
      credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
    });
    try {
      await prefixed.put('x/one', Buffer.from('1'));
      expect(await store.head('tenant-a/x/one')).toMatchObject({ size: 1 });
      const keys: string[] = [];
      for await (const { key } of prefixed.list('x/')) keys.push(key);
      expect(keys).toEqual(['x/one']);
    } finally {
      prefixed.destroy();
    }
  });
});
