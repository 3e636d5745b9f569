import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3, type RunningS3 } from '../../infra/dev/minio.ts';

const CHILD = fileURLToPath(new URL('./big-artifact-child.ts', import.meta.url));
const MiB = 1024 * 1024;

let s3: RunningS3;
let scratch: string;
let big: ArtifactFixture;
let small: ArtifactFixture;

/** A workspace holding `out/big.bin`, and the file's SHA-256. */
interface ArtifactFixture {
  workspace: string;
  sha256: string;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'kiln-big-objects-'));
  const fixture = async (name: string, size: number): Promise<ArtifactFixture> => {
    const workspace = join(scratch, name);
    return { workspace, sha256: await writeBigFile(join(workspace, 'out', 'big.bin'), size) };
  };
  big = await fixture('big', 200 * MiB);
  small = await fixture('small', MiB);
  s3 = await startS3({ bucket: 'big-artifacts' });
}, 600_000);
afterAll(async () => {
  await s3?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const mb = (bytes: number) => `${Math.round(bytes / MiB)} MB`;

interface ChildReport {
  expected: string;
  status: number;
  contentLength: number;
  etag: string;
  received: string;
  bytes: number;
  tailStatus: number;
  tailBytes: number;
  uploadMs: number;
  downloadMs: number;
  uploadMaxRssBytes: number;
  maxRssBytes: number;
}

/** Writes `size` pseudo-random bytes as they are made; returns their SHA-256. */
async function writeBigFile(path: string, size: number): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  const hash = createHash('sha256');
  let produced = 0;
  let state = 0x9e3779b9;
  await pipeline(
    new Readable({
      read() {
        if (produced === size) return void this.push(null);
        const block = Buffer.allocUnsafe(MiB);
        for (let i = 0; i < MiB; i += 4) {
          state = (state * 1664525 + 1013904223) >>> 0;
          block.writeUInt32LE(state, i);
        }
        produced += MiB;
        hash.update(block);
        this.push(block);
      },
    }),
    createWriteStream(path),
  );
  return hash.digest('hex');
}

/** Runs the upload and download in a child process (its own peak RSS) and returns its report. */
async function runChild(options: object, file: ArtifactFixture): Promise<ChildReport> {
  const args = [CHILD, JSON.stringify(options), file.workspace, file.sha256];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: MiB, timeout: 240_000 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as ChildReport;
}

describe('a 200 MB artifact', () => {
  it.each([
    ['the directory store', () => ({ store: 'dir', root: join(scratch, 'objects') })],
    [
      'the S3 store (MinIO)',
      () => ({
        store: 's3',
        endpoint: s3.endpoint,
        region: s3.region,
        bucket: s3.bucket,
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
      }),
    ],
  ])(
    'goes up and comes back through the API with bounded memory on %s',
    async (name, options) => {
      // The same process with a 1 MB artifact: what Node and Kiln's modules take before any data.
      const baseline = await runChild(options(), small);
      const report = await runChild(options(), big);
      const growth = report.maxRssBytes - baseline.maxRssBytes;
      console.log(
        `[artifacts] 200 MB on ${name}: upload ${report.uploadMs} ms, download ${report.downloadMs} ms, ` +
          `peak RSS ${mb(report.maxRssBytes)} (${mb(report.uploadMaxRssBytes)} after the upload), ` +
          `${mb(baseline.maxRssBytes)} with 1 MB: +${mb(growth)}`,
      );
      expect(baseline.received).toBe(baseline.expected);
      expect(report.status).toBe(200);
      expect(report.contentLength).toBe(200 * MiB);
      expect(report.bytes).toBe(200 * MiB);
      expect(report.received).toBe(report.expected);
      expect(report.etag).toBe(`"${report.expected}"`);
      expect(report.tailStatus).toBe(206);
      expect(report.tailBytes).toBe(MiB);
      // Holding the file, or a good part of it, would add 200 MB. Streaming adds buffers (the S3
      // adapter's multipart parts: up to 5 × 8 MB) and garbage not yet collected (V8 lets some
      // 64 MB of dead buffers pile up between collections), whatever the file's size.
      expect(growth).toBeLessThan(120 * MiB);
    },
    300_000,
  );
});
