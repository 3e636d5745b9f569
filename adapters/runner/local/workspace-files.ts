import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, readFile, realpath, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArtifactInvalidError, FailureCodes } from '../../../shared/errors.ts';
import { artifactPathProblem } from '../../artifacts/manifest.ts';
import { isInside, matchWorkspace } from '../../artifacts/workspace-glob.ts';
import type {
  CollectedFile,
  RunnerOutcome,
  RunnerSpec,
  RunnerWorkspaceFiles,
  StagedInputs,
} from '../port.ts';
import { writeFileAtomic, type RunnerState } from './state.ts';

/**
 * Artifacts on the local backend. Inputs are staged before the launch in
 * `<runnersDir>/.inputs/<runnerId>/` (`inputs.json` plus one file per input, named by index), moved
 * into the runner directory by `start`, and placed in the workspace by the supervisor after the
 * checkout. After the steps the supervisor matches the job's globs and records the files in
 * `<runnerDir>/outputs.json`, which the runner worker then reads and uploads.
 */

/** What `inputs.json` holds: where each staged file goes. */
interface StagedIndex {
  files: { path: string; mode: number; fromJob: string; file: string }[];
  notes: string[];
}

/** What `outputs.json` holds. */
interface OutputsIndex {
  files: CollectedFile[];
}

const INPUTS_DIR = 'inputs';
const OUTPUTS_FILE = 'outputs.json';

/** Where inputs wait for a runner that is not started yet. */
export function stagingDir(runnersDir: string, runnerId: string): string {
  return join(runnersDir, '.inputs', runnerId);
}

/** {@link RunnerWorkspaceFiles} over the runner directories of one `LocalRunnerBackend`. */
export class LocalWorkspaceFiles implements RunnerWorkspaceFiles {
  readonly #runnersDir: string;
  readonly #runnerDir: (runnerId: string) => string;

  constructor(runnersDir: string, runnerDir: (runnerId: string) => string) {
    this.#runnersDir = runnersDir;
    this.#runnerDir = runnerDir;
  }

  async stageInputs(runnerId: string, inputs: StagedInputs): Promise<void> {
    if (await exists(this.#runnerDir(runnerId))) return; // started already: the inputs are in place
    const dir = stagingDir(this.#runnersDir, runnerId);
    await rm(dir, { recursive: true, force: true });
    await mkdir(join(dir, 'files'), { recursive: true });
    const index: StagedIndex = { files: [], notes: inputs.notes };
    for (const [i, file] of inputs.files.entries()) {
      checkPath(file.path);
      await pipeline(await file.open(), createWriteStream(join(dir, 'files', String(i))));
      index.files.push({ path: file.path, mode: file.mode, fromJob: file.fromJob, file: String(i) });
    }
    await writeFileAtomic(join(dir, 'inputs.json'), JSON.stringify(index));
  }

  async collectedOutputs(runnerId: string): Promise<CollectedFile[] | undefined> {
    const text = await readFile(join(this.#runnerDir(runnerId), OUTPUTS_FILE), 'utf8').catch(
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      },
    );
    return text === undefined ? undefined : (JSON.parse(text) as OutputsIndex).files;
  }

  async openOutput(runnerId: string, path: string): Promise<Readable> {
    checkPath(path);
    const root = await realpath(join(this.#runnerDir(runnerId), 'workspace'));
    const real = await realpath(join(root, path));
    if (!isInside(root, real)) {
      throw new ArtifactInvalidError(path, `artifact "${path}" resolves to ${real}, outside the workspace`);
    }
    if (!(await stat(real)).isFile())
      throw new ArtifactInvalidError(path, `artifact "${path}" is not a file`);
    return createReadStream(real);
  }
}

/** Moves the staged inputs of a runner into its new directory (by `start`, before the launch). */
export async function adoptStagedInputs(
  runnersDir: string,
  runnerId: string,
  runnerDir: string,
): Promise<void> {
  await rename(stagingDir(runnersDir, runnerId), join(runnerDir, INPUTS_DIR)).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    },
  );
}

/** Removes inputs staged for a runner that never started (by `destroy`). */
export async function removeStagedInputs(runnersDir: string, runnerId: string): Promise<void> {
  await rm(stagingDir(runnersDir, runnerId), { recursive: true, force: true });
}

/**
 * Places the staged inputs in the checked-out workspace (by the supervisor, before the first
 * step). Every directory along a path is created or checked one by one, so a symbolic link in the
 * checkout cannot lead a write outside the workspace; a file at the path is replaced.
 */
export async function placeStagedInputs(
  runnerDir: string,
  workspace: string,
  emit: (text: string) => void,
): Promise<void> {
  const dir = join(runnerDir, INPUTS_DIR);
  const text = await readFile(join(dir, 'inputs.json'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return;
  const index = JSON.parse(text) as StagedIndex;
  for (const note of index.notes) emit(note);
  if (index.files.length === 0) return;
  const root = await realpath(workspace);
  for (const file of index.files) {
    const target = await safeTarget(root, file.path);
    await rename(join(dir, 'files', file.file), target);
    await chmod(target, file.mode & 0o777);
  }
  const jobs = [...new Set(index.files.map((file) => file.fromJob))];
  emit(`✔ artifacts: placed ${index.files.length} files from ${jobs.join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

/** The real path to write `path` at, creating its directories inside the workspace only. */
async function safeTarget(root: string, path: string): Promise<string> {
  checkPath(path);
  const segments = path.split('/');
  const name = segments.pop()!;
  let current = root;
  for (const segment of segments) {
    const next = join(current, segment);
    const stats = await lstat(next).catch(() => undefined);
    if (stats === undefined) {
      await mkdir(next);
      current = next;
    } else if (stats.isDirectory()) {
      current = next;
    } else if (stats.isSymbolicLink()) {
      const real = await realpath(next).catch(() => '');
      if (real === '' || !isInside(root, real) || !(await stat(real)).isDirectory()) {
        throw new ArtifactInvalidError(
          path,
          `cannot place artifact "${path}": "${segment}" leads outside the workspace`,
        );
      }
      current = real;
    } else {
      throw new ArtifactInvalidError(
        path,
        `cannot place artifact "${path}": "${segment}" is a file in the workspace`,
      );
    }
  }
  const target = join(current, name);
  const existing = await lstat(target).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new ArtifactInvalidError(path, `cannot place artifact "${path}": a directory is there`);
  }
  if (existing !== undefined) await unlink(target); // replaces a file or a link, never follows it
  return target;
}

/**
 * Matches the job's artifact globs after its steps (by the supervisor, while the job log is still
 * open), when `when` fits the outcome, and records the files in `outputs.json`. A path leading
 * outside the workspace ends the attempt with `ARTIFACT_INVALID`.
 */
export async function collectOutputs(
  runnerDir: string,
  workspace: string,
  spec: RunnerSpec,
  end: Partial<RunnerState>,
  emit: (text: string) => void,
): Promise<Partial<RunnerState>> {
  if (spec.artifacts === undefined || !wanted(spec.artifacts.when, end.outcome)) return end;
  emit(`▶ artifacts: ${spec.artifacts.paths.join(', ')}`);
  try {
    const { files, unmatched } = await matchWorkspace(workspace, spec.artifacts.paths);
    for (const pattern of unmatched) emit(`⚠ artifacts: no file matches "${pattern}"`);
    await writeFileAtomic(join(runnerDir, OUTPUTS_FILE), JSON.stringify({ files } satisfies OutputsIndex));
    const bytes = files.reduce((sum, file) => sum + file.size, 0);
    emit(`✔ artifacts: ${files.length} files, ${bytes} bytes`);
    return end;
  } catch (err) {
    if (!(err instanceof ArtifactInvalidError)) throw err;
    emit(`✖ ${err.message}`);
    return { infraError: { code: FailureCodes.ARTIFACT_INVALID, message: err.message } };
  }
}

/** Whether `when` keeps the artifacts of an attempt that ended this way. */
function wanted(
  when: NonNullable<RunnerSpec['artifacts']>['when'],
  outcome: RunnerOutcome | undefined,
): boolean {
  if (outcome === undefined) return false; // cancelled or broken: nothing to keep
  if (when === 'always') return true;
  return outcome.status === 'succeeded' ? when === 'on_success' : when === 'on_failure';
}

function checkPath(path: string): void {
  const problem = artifactPathProblem(path);
  if (problem !== undefined) throw new ArtifactInvalidError(path, `artifact path "${path}": ${problem}`);
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}
