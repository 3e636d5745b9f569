import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitVcs } from '../../adapters/vcs/git-vcs.ts';
import { InfrastructureError, NotFoundError } from '../../shared/errors.ts';
import { createOriginRepo, tempDir, type OriginRepo } from './fixtures.ts';

describe('GitVcs', () => {
  const tmp = tempDir('git');
  let origin: OriginRepo;
  let first: string;
  let second: string;

  beforeAll(() => {
    origin = createOriginRepo(tmp.path);
    first = origin.commit({ '.ci.yaml': 'jobs: {}\n', 'src/app.txt': 'app v1\n' }, 'first');
    origin.git('tag', '-a', 'v1.0', '-m', 'release 1.0');
    second = origin.commit({ 'src/app.txt': 'app v2\n', 'README.md': '# demo\n' }, 'second');
    origin.git('tag', 'light');
  });
  afterAll(() => tmp.cleanup());

  const newVcs = (name = 'mirrors') => new GitVcs({ mirrorsDir: join(tmp.path, name) });

  it('resolves branches, tags and shas, short or full', async () => {
    const vcs = newVcs();
    expect(await vcs.resolve(origin.url, 'main')).toBe(second);
    expect(await vcs.resolve(origin.url, 'refs/heads/main')).toBe(second);
    expect(await vcs.resolve(origin.url, 'v1.0')).toBe(first); // annotated tag, peeled to its commit
    expect(await vcs.resolve(origin.url, 'refs/tags/v1.0')).toBe(first);
    expect(await vcs.resolve(origin.url, 'light')).toBe(second);
    expect(await vcs.resolve(origin.url, first)).toBe(first);
    expect(await vcs.resolve(origin.url, first.toUpperCase())).toBe(first);
  });

  it('keeps one bare mirror per clone URL and accepts plain local paths', async () => {
    const vcs = newVcs('mirrors-paths');
    expect(await vcs.resolve(origin.path, 'main')).toBe(second);
    expect(await vcs.resolve(origin.url, 'main')).toBe(second);
    const mirrors = readdirSync(vcs.mirrorsDir).sort();
    const expected = [origin.path, origin.url].map((url) => basename(vcs.mirrorPath(url)));
    expect(mirrors).toEqual(expected.sort());
    for (const mirror of mirrors) expect(mirror).toMatch(/^[0-9a-f]{16}\.git$/);
  });

  it('rejects a branch or tag the repository does not have', async () => {
    await expect(newVcs().resolve(origin.url, 'no-such-branch')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('reads a file at a commit, and undefined when the commit has no such file', async () => {
    const vcs = newVcs('mirrors-read');
    expect(await vcs.readFile(origin.url, first, '.ci.yaml')).toBe('jobs: {}\n');
    expect(await vcs.readFile(origin.url, first, 'src/app.txt')).toBe('app v1\n');
    expect(await vcs.readFile(origin.url, second, './src/app.txt')).toBe('app v2\n');
    expect(await vcs.readFile(origin.url, first, 'README.md')).toBeUndefined();
    expect(await vcs.readFile(origin.url, first, 'src')).toBeUndefined(); // a directory is not a file
  });

  it('fails with CHECKOUT_FAILED naming the URL when the repository cannot be reached', async () => {
    const vcs = newVcs();
    const missing = `file://${join(tmp.path, 'does-not-exist')}`;
    const err = await vcs.resolve(missing, 'main').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect(err).toMatchObject({ code: 'CHECKOUT_FAILED' });
    expect((err as Error).message).toContain(missing);
    await expect(vcs.readFile(missing, first, '.ci.yaml')).rejects.toMatchObject({ code: 'CHECKOUT_FAILED' });
  });

  it('keeps credentials out of error messages', async () => {
    const err = await newVcs()
      .resolve('https://kiln:s3cret-token@127.0.0.1:9/repo.git', 'main')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CHECKOUT_FAILED' });
    expect((err as Error).message).toContain('https://127.0.0.1:9/repo.git');
    expect((err as Error).message).not.toContain('s3cret');
  });

  it('fails with CHECKOUT_FAILED for a commit the repository does not have', async () => {
    const unknown = 'deadbeef'.repeat(5);
    await expect(newVcs().readFile(origin.url, unknown, '.ci.yaml')).rejects.toMatchObject({
      code: 'CHECKOUT_FAILED',
      message: expect.stringContaining(unknown) as unknown,
    });
    await expect(newVcs().checkout(origin.url, unknown, join(tmp.path, 'ws-unknown'))).rejects.toMatchObject({
      code: 'CHECKOUT_FAILED',
    });
  });

  it('checks out a work tree that is a real repository at the commit', async () => {
    const vcs = newVcs();
    const dir = join(tmp.path, 'ws-first');
    await vcs.checkout(origin.url, first, dir);
    expect(readFileSync(join(dir, 'src/app.txt'), 'utf8')).toBe('app v1\n');
    expect(existsSync(join(dir, 'README.md'))).toBe(false);
    const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
    expect(git('rev-parse', 'HEAD')).toBe(first);
    expect(git('status', '--porcelain')).toBe('');
    expect(git('log', '--format=%s')).toBe('first');
  });

  it('fetches commits pushed to the origin later', async () => {
    const vcs = newVcs('mirrors-later');
    expect(await vcs.resolve(origin.url, 'main')).toBe(second);
    const third = origin.commit({ 'src/app.txt': 'app v3\n' }, 'third');
    expect(await vcs.resolve(origin.url, 'main')).toBe(third);
    expect(await vcs.readFile(origin.url, third, 'src/app.txt')).toBe('app v3\n');

    // A commit on a branch the mirror never fetched is fetched by its sha.
    origin.git('checkout', '-q', '-b', 'feature');
    const feature = origin.commit({ 'feature.txt': 'new\n' }, 'feature');
    origin.git('checkout', '-q', 'main');
    expect(await vcs.readFile(origin.url, feature, 'feature.txt')).toBe('new\n');
    const dir = join(tmp.path, 'ws-feature');
    await vcs.checkout(origin.url, feature, dir);
    expect(readFileSync(join(dir, 'feature.txt'), 'utf8')).toBe('new\n');
  });

  it('stays consistent under concurrent calls for the same URL', async () => {
    const dir = 'mirrors-concurrent';
    const [a, b] = [newVcs(dir), newVcs(dir)]; // two instances stand for two worker processes
    const head = origin.git('rev-parse', 'main');
    const calls = Array.from({ length: 12 }, (_, i) => {
      const vcs = i % 2 === 0 ? a : b;
      if (i % 3 === 0) return vcs.resolve(origin.url, 'v1.0');
      if (i % 3 === 1) return vcs.resolve(origin.url, 'main');
      return vcs.readFile(origin.url, first, '.ci.yaml');
    });
    const results = await Promise.all(calls);
    results.forEach((result, i) => expect(result).toBe([first, head, 'jobs: {}\n'][i % 3]));
    execFileSync('git', ['--git-dir', a.mirrorPath(origin.url), 'fsck', '--no-progress'], { stdio: 'pipe' });
  });
});
