/**
 * A real S3-compatible server for tests, benchmarks and local use: MinIO, built from source with
 * `go install` into `~/.cache/kiln/minio-<version>/` once (a few minutes on a small machine), then
 * started on 127.0.0.1 with a temporary data directory and one bucket.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { cachedEntry } from './cache.ts';
import { freePort, runCommand, startServerProcess, waitUntilReady } from './server-process.ts';

/** The MinIO module version Kiln is tested with (the upstream tags are not semver). */
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

export interface StartS3Options {
  /**
   * Bucket created before returning.
   * @default 'kiln'
   */
  bucket?: string;
  /** Root of the build cache. @default ~/.cache/kiln */
  cacheDir?: string;
  /** Called with one line per step. */
  onProgress?: (message: string) => void;
}

export interface RunningS3 {
  /** `http://127.0.0.1:<port>`; address it path-style. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region: string;
  bucket: string;
  /** Stops the server and removes its data. Safe to call twice. */
  stop(): Promise<void>;
}

/** Path of the MinIO binary, building it into the cache when it is not there yet. */
export async function obtainMinio(
  options: Pick<StartS3Options, 'cacheDir' | 'onProgress'> = {},
): Promise<string> {
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const { dir, built } = await cachedEntry({
    name: 'minio',
    version: MINIO_VERSION,
    marker: 'minio',
    cacheDir: options.cacheDir,
    build: async (work) => {
      progress(`building MinIO ${MINIO_VERSION} with go install (first time only, a few minutes)…`);
      await runCommand(
        'go',
        ['install', '-trimpath', '-ldflags=-s -w', `github.com/minio/minio@${MINIO_VERSION}`],
        { what: 'go install github.com/minio/minio', env: { ...process.env, GOBIN: work, CGO_ENABLED: '0' } },
      );
    },
  });
  if (built) progress(`MinIO built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return join(dir, 'minio');
}

/** Starts MinIO on free ports of 127.0.0.1 and creates the bucket. */
export async function startS3(options: StartS3Options = {}): Promise<RunningS3> {
  const progress = options.onProgress ?? (() => {});
  const binary = await obtainMinio(options);
  const started = Date.now();
  const dataDir = await mkdtemp(join(tmpdir(), 'kiln-s3-'));
  const [port, consolePort] = [await freePort(), await freePort()];
  const accessKey = 'kilnaccess';
  const secretKey = 'kilnsecret-for-tests';
  const server = startServerProcess(
    binary,
    [
      'server',
      '--quiet',
      '--address',
      `127.0.0.1:${port}`,
      '--console-address',
      `127.0.0.1:${consolePort}`,
      dataDir,
    ],
    {
      env: {
        ...process.env,
        MINIO_ROOT_USER: accessKey,
        MINIO_ROOT_PASSWORD: secretKey,
        MINIO_BROWSER: 'off',
        MINIO_UPDATE: 'off',
        HOME: dataDir,
      },
    },
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await server.stop('SIGTERM', 5_000);
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(server, 'MinIO', async () => (await fetch(`${endpoint}/minio/health/ready`)).ok);
    const region = 'us-east-1';
    const bucket = options.bucket ?? 'kiln';
    const client = new S3Client({
      endpoint,
      region,
      forcePathStyle: true,
      credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
    progress(`MinIO ready on ${endpoint} in ${Date.now() - started} ms`);
    let stopped: Promise<void> | undefined;
    return { endpoint, accessKey, secretKey, region, bucket, stop: () => (stopped ??= stop()) };
  } catch (err) {
    await stop();
    throw err;
  }
}
