import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { artifactPathProblem } from '../adapters/artifacts/manifest.ts';
import type { ArtifactListing } from '../api/routes/artifacts.ts';
import type { KilnApiClient } from './api-client.ts';
import { renderTable } from './render.ts';

/** `kiln artifacts BUILD`: a table of the files a build's jobs kept. */
export function renderArtifacts(artifacts: readonly ArtifactListing[]): string {
  if (artifacts.length === 0) return 'no artifacts';
  return renderTable([
    ['JOB', 'PATH', 'SIZE', 'SHA256', 'EXPIRES'],
    ...artifacts.map((a) => [
      a.job,
      a.path,
      humanSize(a.size),
      a.sha256.slice(0, 12),
      a.expired ? 'expired' : (a.expiresAt?.replace('T', ' ').slice(0, 16) ?? 'never'),
    ]),
  ]);
}

/**
 * `kiln artifacts download BUILD [PATH…] [--job JOB] [--dir DIR]`: writes the chosen files (all
 * unexpired ones by default) under DIR at their paths, each checked against its SHA-256 and
 * renamed into place only when whole. A path that would land outside DIR is refused.
 */
export async function downloadArtifacts(
  api: KilnApiClient,
  buildId: string,
  options: { paths: string[]; job?: string; dir: string },
): Promise<string[]> {
  const { artifacts } = await api.listArtifacts(buildId);
  const chosen = artifacts.filter(
    (a) =>
      !a.expired &&
      (options.job === undefined || a.job === options.job) &&
      (options.paths.length === 0 || options.paths.includes(a.path)),
  );
  const missing = options.paths.filter((path) => !chosen.some((a) => a.path === path));
  if (missing.length > 0) throw new Error(`build ${buildId} has no unexpired artifact ${missing.join(', ')}`);
  const root = resolve(options.dir);
  const written: string[] = [];
  for (const artifact of chosen) {
    const problem = artifactPathProblem(artifact.path);
    if (problem !== undefined) throw new Error(`refusing artifact path "${artifact.path}": ${problem}`);
    const target = join(root, ...artifact.path.split('/'));
    await mkdir(dirname(target), { recursive: true });
    const partial = `${target}.partial`;
    const res = await api.download(artifact.url);
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(
        Readable.fromWeb(res.body as never),
        hashing,
        createWriteStream(partial, { mode: 0o600 }),
      );
      if (hash.digest('hex') !== artifact.sha256)
        throw new Error(`${artifact.path}: content does not match its sha256`);
      await rename(partial, target);
    } finally {
      await rm(partial, { force: true });
    }
    written.push(target);
  }
  return written;
}

function humanSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
