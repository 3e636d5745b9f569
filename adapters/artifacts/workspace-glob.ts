import type { Dirent, Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, matchesGlob, relative, sep } from 'node:path';
import { ArtifactInvalidError } from '../../shared/errors.ts';
import { artifactPatternProblem } from '../../shared/pipeline/artifacts.ts';

/** One file matched in a workspace: `/`-separated path relative to it, size and permission bits. */
export interface MatchedFile {
  path: string;
  size: number;
  mode: number;
}

/** What {@link matchWorkspace} found: the files, and the patterns that matched nothing. */
export interface WorkspaceMatch {
  files: MatchedFile[];
  unmatched: string[];
}

/**
 * Expands artifact globs inside a workspace directory, GitLab style: a pattern naming a directory
 * (`dist`, `dist/`) keeps everything under it; `*` stays in one directory, `**` crosses them.
 * Symbolic links are followed only when they resolve inside the workspace; a matched link that
 * leads outside it, or any pattern reaching out (`..`, absolute), throws
 * {@link ArtifactInvalidError} naming the path. Files are listed once, sorted by path.
 */
export async function matchWorkspace(
  workspace: string,
  patterns: readonly string[],
): Promise<WorkspaceMatch> {
  const root = await realpath(workspace);
  const found = new Map<string, MatchedFile>();
  const unmatched: string[] = [];
  for (const raw of patterns) {
    const pattern = normalizePattern(raw);
    let matchedAny = false;
    const keep = async (path: string) => {
      matchedAny = true;
      await addTree(root, path, found, new Set());
    };
    const base = literalPrefix(pattern);
    if (base === pattern) {
      if ((await lstatOrUndefined(join(root, pattern))) !== undefined) await keep(pattern);
    } else {
      await walk(root, base, async (path, entry) => {
        if (matchesGlob(path, pattern)) {
          await keep(path);
          return false;
        }
        return entry.isDirectory(); // look further down; links to directories are not walked unless matched
      });
    }
    if (!matchedAny) unmatched.push(raw);
  }
  const files = [...found.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, unmatched };
}

/** `./dist/` → `dist`; rejects what would leave the workspace. */
function normalizePattern(raw: string): string {
  const problem = artifactPatternProblem(raw);
  if (problem !== undefined) throw new ArtifactInvalidError(raw, `artifact path "${raw}": ${problem}`);
  const pattern = raw
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
  if (pattern === '') throw new ArtifactInvalidError(raw, `artifact path "${raw}" names the whole workspace`);
  return pattern;
}

/** The leading segments of a pattern without glob characters (`dist/*.js` → `dist`). */
function literalPrefix(pattern: string): string {
  const segments = pattern.split('/');
  const literal: string[] = [];
  for (const segment of segments) {
    if (/[*?[\]{}!()+@]/.test(segment)) break;
    literal.push(segment);
  }
  return literal.join('/');
}

/** Visits entries under `base` depth first; `visit` returns whether to descend into a directory. */
async function walk(
  root: string,
  base: string,
  visit: (path: string, entry: Dirent) => Promise<boolean>,
): Promise<void> {
  const dir = base === '' ? root : join(root, base);
  const baseStats = await lstatOrUndefined(dir);
  if (baseStats === undefined) return;
  const real = await realpath(dir).catch(() => undefined);
  if (real !== undefined && !isInside(root, real)) {
    throw new ArtifactInvalidError(
      base,
      `artifact path "${base}" resolves to ${real}, outside the workspace`,
    );
  }
  // A base reached through a link inside the workspace is walked like the directory it names.
  if (!(baseStats.isDirectory() || (real !== undefined && (await stat(dir)).isDirectory()))) return;
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const path = base === '' ? entry.name : `${base}/${entry.name}`;
    if (path === '.git' || path.startsWith('.git/')) continue;
    if (await visit(path, entry)) await walk(root, path, visit);
  }
}

/**
 * Adds a matched path: a file, or every file under a directory. Links are resolved and must stay
 * inside the workspace; `seen` holds the real directories walked, so a link loop ends.
 */
async function addTree(
  root: string,
  path: string,
  into: Map<string, MatchedFile>,
  seen: Set<string>,
): Promise<void> {
  const full = join(root, path);
  // The real path catches a link anywhere along the path, not only at its end (`out/x`, `out` → /etc).
  const real = await realpath(full).catch(() => undefined);
  if (real === undefined) {
    throw new ArtifactInvalidError(path, `artifact "${path}" is a symbolic link to nothing`);
  }
  if (!isInside(root, real)) {
    throw new ArtifactInvalidError(path, `artifact "${path}" resolves to ${real}, outside the workspace`);
  }
  const stats = await stat(full);
  if (stats.isFile()) {
    into.set(path, { path, size: stats.size, mode: stats.mode & 0o777 });
    return;
  }
  if (!stats.isDirectory()) return; // sockets, fifos, devices: never artifacts
  if (seen.has(real)) return;
  seen.add(real);
  for (const entry of await readdir(full)) await addTree(root, `${path}/${entry}`, into, seen);
}

/** Whether the real path `target` is the workspace or inside it. */
export function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ENOENT' ||
      (err as NodeJS.ErrnoException).code === 'ENOTDIR'
    ) {
      return undefined;
    }
    throw err;
  }
}
