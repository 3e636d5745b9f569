import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A real git repository on disk, made by a test. */
export interface TestRepo {
  path: string;
  url: string;
  /** Writes files, commits them on the current branch and returns the new sha. */
  commit(files: Record<string, string>, message?: string): string;
  git(...args: string[]): string;
}

export function createTestRepo(
  files: Record<string, string>,
  options: { branch?: string } = {},
): TestRepo & { sha: string } {
  const path = mkdtempSync(join(tmpdir(), 'kiln-repo-'));
  const git = (...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=Kiln Test', '-c', 'user.email=test@localhost', ...args], {
      cwd: path,
      encoding: 'utf8',
    }).trim();
  git('init', '-q', '-b', options.branch ?? 'main');
  const commit = (next: Record<string, string>, message = 'commit'): string => {
    for (const [name, content] of Object.entries(next)) {
      mkdirSync(dirname(join(path, name)), { recursive: true });
      writeFileSync(join(path, name), content);
    }
    git('add', '-A');
    git('commit', '-q', '--allow-empty', '-m', message);
    return git('rev-parse', 'HEAD');
  };
  const sha = commit(files, 'initial');
  return { path, url: `file://${path}`, commit, git, sha };
}
