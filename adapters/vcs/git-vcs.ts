import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import { FailureCodes, InfrastructureError, InvalidInputError, NotFoundError } from '../../shared/errors.ts';
import type { Vcs } from './port.ts';

/** Options of {@link GitVcs}. */
export interface GitVcsOptions {
  /** Directory holding one bare mirror per clone URL (created when missing). */
  mirrorsDir: string;
  /**
   * Time limit of one git command, in milliseconds.
   * @default 600_000
   */
  commandTimeoutMs?: number;
}

/** A git command that ran and failed (or could not run). */
class GitCommandError extends Error {
  readonly exitCode: number | undefined;
  readonly stderr: string;
  constructor(args: readonly string[], exitCode: number | undefined, stderr: string, cause: unknown) {
    super(`git ${args[0] ?? ''} failed: ${lastLine(stderr) || String(cause)}`, { cause });
    this.name = 'GitCommandError';
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
/**
 * `git fetch`, keeping what it receives as one pack. Below `fetch.unpackLimit` objects git would
 * write them loose, one by one, so a reader in another process could see a fetched commit before
 * its trees and blobs (and take a file for missing); a pack appears whole, with its index.
 */
const FETCH = ['-c', 'fetch.unpackLimit=1', 'fetch'];

/** What `git cat-file blob <sha>:<path>` says of a path the commit does not have as a file. */
const NO_SUCH_FILE = /does not exist in|bad file|exists on disk, but not in/;

/** Another git process holds a lock on the mirror: worth retrying after a short pause. */
const LOCK_ERROR =
  /\.lock'?: File exists|cannot lock ref|Unable to create .*\.lock|unable to update local ref/i;
// eslint-disable-next-line no-control-regex
const BAD_REF_CHAR = /[\s:~^?*[\\\x00-\x1f\x7f]/;
const MISSING_REF = /couldn't find remote ref/i;
const LOCK_RETRIES = 6;

/**
 * Git over file://, local paths and https, with one bare mirror per clone URL under `mirrorsDir`
 * (`<first 16 hex of sha256(url)>.git`). Fetches into a mirror are serialised per mirror within the
 * process; across processes git's own locks apply and lock conflicts are retried. Fetches never
 * write `FETCH_HEAD`, the one file git would let concurrent fetches overwrite unlocked.
 */
export class GitVcs implements Vcs {
  readonly mirrorsDir: string;
  readonly #timeoutMs: number;
  /** Tail of the queue of mirror-changing operations, per mirror. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: GitVcsOptions) {
    this.mirrorsDir = resolvePath(options.mirrorsDir);
    this.#timeoutMs = options.commandTimeoutMs ?? 600_000;
  }

  /** Path of the bare mirror of `cloneUrl` (which may not exist yet). */
  mirrorPath(cloneUrl: string): string {
    const hash = createHash('sha256').update(cloneUrl).digest('hex').slice(0, 16);
    return join(this.mirrorsDir, `${hash}.git`);
  }

  async resolve(cloneUrl: string, ref: string): Promise<string> {
    checkRef(ref);
    if (FULL_SHA.test(ref)) {
      const sha = ref.toLowerCase();
      await this.#ensureCommit(cloneUrl, sha);
      return sha;
    }
    const mirror = await this.#ensureMirror(cloneUrl);
    const candidates = ref.startsWith('refs/') ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    const found = await this.#exclusive(mirror, async () => {
      for (const candidate of candidates) {
        try {
          await this.#git(mirror, [
            ...FETCH,
            '--quiet',
            '--no-write-fetch-head',
            '--no-tags',
            '--force',
            cloneUrl,
            `+${candidate}:${candidate}`,
          ]);
          return candidate;
        } catch (err) {
          if (err instanceof GitCommandError && MISSING_REF.test(err.stderr)) continue;
          throw unreachable(cloneUrl, `cannot fetch ${ref}`, err);
        }
      }
      return undefined;
    });
    if (found === undefined)
      throw new NotFoundError('ref', `${redactUrl(cloneUrl)} has no branch or tag ${ref}`);
    const out = await this.#git(mirror, ['rev-parse', '--verify', '--quiet', `${found}^{commit}`]);
    return out.trim();
  }

  async readFile(cloneUrl: string, sha: string, path: string): Promise<string | undefined> {
    checkSha(sha);
    const mirror = await this.#ensureCommit(cloneUrl, sha);
    const relative = path.replace(/^(?:\.?\/)+/, '');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#git(mirror, ['cat-file', 'blob', `${sha}:${relative}`]);
      } catch (err) {
        // The commit exists: git names a path it does not have (or that is not a file). Any other
        // failure, such as a tree not there yet, is retried briefly, then reported, never taken
        // for a missing file (that would turn into "no pipeline file" for a real build).
        if (err instanceof GitCommandError && err.exitCode === 128 && NO_SUCH_FILE.test(err.stderr)) {
          return undefined;
        }
        if (attempt >= 3) throw unreachable(cloneUrl, `cannot read ${path} at ${sha}`, err);
        await sleep(100 * attempt);
      }
    }
  }

  /**
   * Makes `dir` a repository whose objects are borrowed from the mirror (alternates), with HEAD
   * detached at `sha` and the work tree checked out. Writing the few files of `.git` ourselves and
   * running one `git checkout` costs about a third of `git clone --shared` + `git checkout`, and
   * unlike a bare tree export the job still sees a real repository (`git log`, `git status`).
   */
  async checkout(cloneUrl: string, sha: string, dir: string): Promise<void> {
    checkSha(sha);
    const mirror = await this.#ensureCommit(cloneUrl, sha);
    const gitDir = join(dir, '.git');
    try {
      await mkdir(join(gitDir, 'objects', 'info'), { recursive: true });
      await mkdir(join(gitDir, 'refs', 'heads'), { recursive: true });
      await mkdir(join(gitDir, 'refs', 'tags'), { recursive: true });
      const config =
        '[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tlogallrefupdates = true\n' +
        `[remote "origin"]\n\turl = ${redactUrl(cloneUrl)}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`;
      await Promise.all([
        writeFile(join(gitDir, 'HEAD'), `${sha}\n`),
        writeFile(join(gitDir, 'config'), config),
        writeFile(join(gitDir, 'objects', 'info', 'alternates'), `${join(mirror, 'objects')}\n`),
      ]);
      await this.#git(undefined, [
        '--git-dir',
        gitDir,
        '--work-tree',
        dir,
        'checkout',
        '--quiet',
        sha,
        '--',
        '.',
      ]);
    } catch (err) {
      throw new InfrastructureError(
        FailureCodes.CHECKOUT_FAILED,
        `cannot check out ${sha} of ${redactUrl(cloneUrl)} into ${dir}: ${reason(err)}`,
        { cause: err },
      );
    }
  }

  /** Makes sure the mirror has `sha`, fetching it when missing; returns the mirror path. */
  async #ensureCommit(cloneUrl: string, sha: string): Promise<string> {
    const mirror = await this.#ensureMirror(cloneUrl);
    if (await this.#hasCommit(mirror, sha)) return mirror;
    await this.#exclusive(mirror, async () => {
      if (await this.#hasCommit(mirror, sha)) return;
      try {
        await this.#git(mirror, [...FETCH, '--quiet', '--no-write-fetch-head', '--no-tags', cloneUrl, sha]);
      } catch {
        // Some servers refuse to serve a commit by id: fetch every branch and tag instead.
        try {
          await this.#git(mirror, [
            ...FETCH,
            '--quiet',
            '--no-write-fetch-head',
            '--force',
            cloneUrl,
            '+refs/heads/*:refs/heads/*',
            '+refs/tags/*:refs/tags/*',
          ]);
        } catch (err) {
          throw unreachable(cloneUrl, `cannot fetch commit ${sha}`, err);
        }
      }
    });
    if (!(await this.#hasCommit(mirror, sha))) {
      throw new InfrastructureError(
        FailureCodes.CHECKOUT_FAILED,
        `${redactUrl(cloneUrl)} has no commit ${sha}`,
      );
    }
    return mirror;
  }

  async #hasCommit(mirror: string, sha: string): Promise<boolean> {
    try {
      await this.#git(mirror, ['cat-file', '-e', `${sha}^{commit}`]);
      return true;
    } catch (err) {
      if (err instanceof GitCommandError && err.exitCode !== undefined) return false;
      throw err;
    }
  }

  /** Creates the bare mirror if missing: initialised aside, then renamed into place atomically. */
  async #ensureMirror(cloneUrl: string): Promise<string> {
    const mirror = this.mirrorPath(cloneUrl);
    if (await exists(join(mirror, 'HEAD'))) return mirror;
    return this.#exclusive(mirror, async () => {
      if (await exists(join(mirror, 'HEAD'))) return mirror;
      await mkdir(this.mirrorsDir, { recursive: true });
      const temp = join(this.mirrorsDir, `.init-${randomUUID()}.git`);
      try {
        await this.#git(undefined, ['init', '--quiet', '--bare', temp]);
        await this.#git(temp, ['config', 'kiln.url', redactUrl(cloneUrl)]);
        await rename(temp, mirror);
      } catch (err) {
        // Another process may have won the race; its mirror is as good as ours.
        if (!(await exists(join(mirror, 'HEAD')))) {
          throw new InfrastructureError(
            FailureCodes.CHECKOUT_FAILED,
            `cannot create the mirror of ${redactUrl(cloneUrl)}: ${reason(err)}`,
            { cause: err },
          );
        }
      } finally {
        await rm(temp, { recursive: true, force: true });
      }
      return mirror;
    });
  }

  /** Runs `fn` after every earlier queued operation on the same mirror has settled. */
  async #exclusive<T>(mirror: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(mirror) ?? Promise.resolve();
    const current = previous.then(fn, fn);
    const tail = current.catch(() => undefined);
    this.#queues.set(mirror, tail);
    try {
      return await current;
    } finally {
      if (this.#queues.get(mirror) === tail) this.#queues.delete(mirror);
    }
  }

  /** Runs git (in `gitDir` when given) and returns its stdout; retries lock conflicts. */
  async #git(gitDir: string | undefined, args: string[]): Promise<string> {
    const fullArgs = gitDir === undefined ? args : ['--git-dir', gitDir, ...args];
    for (let attempt = 0; ; attempt++) {
      try {
        return await runGit(fullArgs, this.#timeoutMs);
      } catch (err) {
        const locked = err instanceof GitCommandError && LOCK_ERROR.test(err.stderr);
        if (!locked || attempt >= LOCK_RETRIES) throw err;
        await sleep(50 * 2 ** attempt + Math.random() * 50);
      }
    }
  }
}

function runGit(args: string[], timeoutMs: number): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C' };
  // Never let an inherited repository location redirect our commands.
  for (const name of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE', 'GIT_OBJECT_DIRECTORY']) delete env[name];
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const code = typeof err.code === 'number' ? err.code : undefined;
        const detail = err.killed ? `timed out after ${timeoutMs} ms` : stderr;
        reject(new GitCommandError(args, code, detail, err));
      },
    );
  });
}

function unreachable(cloneUrl: string, what: string, err: unknown): InfrastructureError {
  return new InfrastructureError(
    FailureCodes.CHECKOUT_FAILED,
    `${what} from ${redactUrl(cloneUrl)}: ${reason(err)}`,
    { cause: err },
  );
}

/** Removes credentials from a URL before it appears in a message or a file. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

function reason(err: unknown): string {
  if (err instanceof GitCommandError) return lastLine(err.stderr) || err.message;
  return err instanceof Error ? err.message : String(err);
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('Please make sure'));
  const fatal = lines.find((l) => l.startsWith('fatal:'));
  return (fatal ?? lines.at(-1) ?? '').replace(/\s+/g, ' ');
}

function checkRef(ref: string): void {
  // The ref ends up in a refspec: forbid what git forbids and what would change the refspec's meaning.
  const bad = ref === '' || ref.startsWith('-') || ref.includes('..') || BAD_REF_CHAR.test(ref);
  if (bad) throw new InvalidInputError('ref', `not a valid git ref: ${JSON.stringify(ref)}`);
}

function checkSha(sha: string): void {
  if (!FULL_SHA.test(sha))
    throw new InvalidInputError('sha', `not a full commit sha: ${JSON.stringify(sha)}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
