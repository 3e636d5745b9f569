import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SAMPLE = fileURLToPath(new URL('../examples/sample-project', import.meta.url));

/**
 * Makes (once) a git repository of the bundled sample project under `dir`, so the first build
 * needs nothing from the network. Returns its path.
 */
export function ensureSampleRepository(dir: string): string {
  const repo = join(dir, 'sample-project');
  if (existsSync(join(repo, '.git'))) return repo;
  mkdirSync(repo, { recursive: true });
  cpSync(SAMPLE, repo, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Kiln', '-c', 'user.email=kiln@localhost', ...args], {
      cwd: repo,
      stdio: 'ignore',
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'Sample project for Kiln');
  return repo;
}
