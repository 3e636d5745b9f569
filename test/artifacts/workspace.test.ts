import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseManifest } from '../../adapters/artifacts/manifest.ts';
import { matchWorkspace } from '../../adapters/artifacts/workspace-glob.ts';
import {
  adoptStagedInputs,
  collectOutputs,
  LocalWorkspaceFiles,
  placeStagedInputs,
} from '../../adapters/runner/local/workspace-files.ts';
import type { RunnerSpec } from '../../adapters/runner/port.ts';
import { ArtifactInvalidError } from '../../shared/errors.ts';

let scratch: string;
let workspace: string;
let outside: string;

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'kiln-artifacts-'));
  workspace = join(scratch, 'runner', 'workspace');
  outside = join(scratch, 'outside');
  mkdirSync(workspace, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'not yours');
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

const modeOf = (path: string) => statSync(join(workspace, path)).mode & 0o777;

function files(tree: Record<string, string>): void {
  for (const [path, content] of Object.entries(tree)) {
    mkdirSync(dirname(join(workspace, path)), { recursive: true });
    writeFileSync(join(workspace, path), content);
  }
}

describe('matchWorkspace', () => {
  it('keeps whole directories, globs within and across directories, and reports what matched nothing', async () => {
    files({
      'dist/app.js': 'app',
      'dist/lib/util.js': 'util',
      'reports/unit.xml': '<unit/>',
      'reports/deep/e2e.xml': '<e2e/>',
      'build.log': 'log',
      'src/main.ts': 'src',
    });
    chmodSync(join(workspace, 'dist/app.js'), 0o755);
    const found = await matchWorkspace(workspace, ['dist/', '**/*.xml', '*.log', 'coverage/', './build.log']);
    expect(found.files).toEqual([
      {
        path: 'build.log',
        size: 3,
        mode: modeOf('build.log'),
      },
      { path: 'dist/app.js', size: 3, mode: 0o755 },
      { path: 'dist/lib/util.js', size: 4, mode: modeOf('dist/lib/util.js') },
      { path: 'reports/deep/e2e.xml', size: 6, mode: expect.any(Number) },
      { path: 'reports/unit.xml', size: 7, mode: expect.any(Number) },
    ]);
    expect(found.unmatched).toEqual(['coverage/']);
  });

  it('follows links that stay inside the workspace', async () => {
    files({ 'real/data.txt': 'data' });
    symlinkSync('real/data.txt', join(workspace, 'link.txt'));
    symlinkSync('real', join(workspace, 'linkdir'));
    const found = await matchWorkspace(workspace, ['link.txt', 'linkdir']);
    expect(found.files.map((f) => [f.path, f.size])).toEqual([
      ['link.txt', 4],
      ['linkdir/data.txt', 4],
    ]);
    const globbed = await matchWorkspace(workspace, ['linkdir/*.txt']);
    expect(globbed.files.map((f) => f.path)).toEqual(['linkdir/data.txt']);
  });

  it('rejects a link that points outside the workspace, naming it', async () => {
    files({ 'dist/ok.txt': 'ok' });
    symlinkSync(join(outside, 'secret.txt'), join(workspace, 'dist', 'leak.txt'));
    await expect(matchWorkspace(workspace, ['dist/'])).rejects.toThrow(
      /artifact "dist\/leak\.txt" resolves to .*outside\/secret\.txt, outside the workspace/,
    );
    await expect(matchWorkspace(workspace, ['dist/*.txt'])).rejects.toBeInstanceOf(ArtifactInvalidError);
  });

  it('rejects a path through a linked directory that leads outside', async () => {
    symlinkSync(outside, join(workspace, 'out'));
    await expect(matchWorkspace(workspace, ['out/secret.txt'])).rejects.toThrow(/outside the workspace/);
    await expect(matchWorkspace(workspace, ['out/*.txt'])).rejects.toThrow(/"out" resolves to .* outside/);
    await expect(matchWorkspace(workspace, ['out'])).rejects.toThrow(/artifact "out" resolves to/);
  });

  it('rejects traversal and absolute patterns even when they reach the runner itself', async () => {
    await expect(matchWorkspace(workspace, ['../spec.json'])).rejects.toThrow(
      'artifact path "../spec.json": ".." would leave the workspace',
    );
    await expect(matchWorkspace(workspace, ['a/../../x'])).rejects.toBeInstanceOf(ArtifactInvalidError);
    await expect(matchWorkspace(workspace, ['/etc/passwd'])).rejects.toThrow(
      /absolute paths are not allowed/,
    );
    await expect(matchWorkspace(workspace, ['./'])).rejects.toThrow(/names the whole workspace/);
  });
});

describe('collectOutputs (after the steps)', () => {
  const spec = (when: 'on_success' | 'on_failure' | 'always', paths: string[]) =>
    ({ artifacts: { paths, when } }) as unknown as RunnerSpec;

  it('warns about a glob matching nothing, records what matched and keeps the outcome', async () => {
    files({ 'out.txt': 'x' });
    const lines: string[] = [];
    const end = { outcome: { status: 'succeeded', exitCode: 0 } as const };
    const runnerDir = dirname(workspace);
    const result = await collectOutputs(
      runnerDir,
      workspace,
      spec('on_success', ['out.txt', 'nothing/*']),
      end,
      (l) => lines.push(l),
    );
    expect(result).toBe(end);
    expect(lines).toContain('⚠ artifacts: no file matches "nothing/*"');
    const backend = new LocalWorkspaceFiles(dirname(runnerDir), () => runnerDir);
    expect(await backend.collectedOutputs('r')).toEqual([
      { path: 'out.txt', size: 1, mode: expect.any(Number) },
    ]);
  });

  it('collects per "when": nothing for a failed job on_success, everything always', async () => {
    files({ 'out.txt': 'x' });
    const runnerDir = dirname(workspace);
    const failed = { outcome: { status: 'failed', exitCode: 1, failedStep: 's' } as const };
    await collectOutputs(runnerDir, workspace, spec('on_success', ['out.txt']), failed, () => {});
    const backend = new LocalWorkspaceFiles(dirname(runnerDir), () => runnerDir);
    expect(await backend.collectedOutputs('r')).toBeUndefined();
    await collectOutputs(runnerDir, workspace, spec('on_failure', ['out.txt']), failed, () => {});
    expect(await backend.collectedOutputs('r')).toHaveLength(1);
  });

  it('turns an escaping link into ARTIFACT_INVALID, in the state and the log', async () => {
    symlinkSync(join(outside, 'secret.txt'), join(workspace, 'leak.txt'));
    const lines: string[] = [];
    const end = { outcome: { status: 'succeeded', exitCode: 0 } as const };
    const result = await collectOutputs(dirname(workspace), workspace, spec('always', ['*.txt']), end, (l) =>
      lines.push(l),
    );
    expect(result.infraError?.code).toBe('ARTIFACT_INVALID');
    expect(result.infraError?.message).toMatch(/artifact "leak\.txt" resolves to .* outside the workspace/);
    expect(result.outcome).toBeUndefined();
    expect(lines.at(-1)).toMatch(/^✖ artifact "leak\.txt"/);
  });
});

describe('placing staged inputs (before the steps)', () => {
  async function stageAndPlace(paths: Record<string, string>): Promise<string[]> {
    const runnersDir = join(scratch, 'runners');
    const runnerDir = join(runnersDir, 'r1');
    const backend = new LocalWorkspaceFiles(runnersDir, (id) => join(runnersDir, id));
    await backend.stageInputs('r1', {
      notes: ['⚠ a note'],
      files: Object.entries(paths).map(([path, content]) => ({
        path,
        mode: 0o755,
        size: content.length,
        fromJob: 'build',
        open: async () => Readable.from([Buffer.from(content)]),
      })),
    });
    mkdirSync(runnerDir, { recursive: true });
    await adoptStagedInputs(runnersDir, 'r1', runnerDir);
    rmSync(join(runnerDir, 'workspace'), { recursive: true, force: true });
    mkdirSync(join(runnerDir, 'workspace'));
    workspace = join(runnerDir, 'workspace');
    return [runnerDir, workspace];
  }

  it('places files with their modes after the checkout, replacing checked-out files', async () => {
    const [runnerDir] = await stageAndPlace({ 'bin/tool': '#!/bin/sh\n', 'README.md': 'new' });
    writeFileSync(join(workspace, 'README.md'), 'old');
    const lines: string[] = [];
    await placeStagedInputs(runnerDir!, workspace, (l) => lines.push(l));
    expect(readFileSync(join(workspace, 'bin/tool'), 'utf8')).toBe('#!/bin/sh\n');
    expect(statSync(join(workspace, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(workspace, 'README.md'), 'utf8')).toBe('new');
    expect(lines).toEqual(['⚠ a note', '✔ artifacts: placed 2 files from build']);
  });

  it('never writes through a checked-out link that leads outside the workspace', async () => {
    const [runnerDir] = await stageAndPlace({ 'out/secret.txt': 'overwritten' });
    symlinkSync(outside, join(workspace, 'out'));
    await expect(placeStagedInputs(runnerDir!, workspace, () => {})).rejects.toThrow(
      'cannot place artifact "out/secret.txt": "out" leads outside the workspace',
    );
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('not yours');
  });

  it('replaces a checked-out link at the path instead of writing through it', async () => {
    const [runnerDir] = await stageAndPlace({ 'file.txt': 'mine' });
    symlinkSync(join(outside, 'secret.txt'), join(workspace, 'file.txt'));
    await placeStagedInputs(runnerDir!, workspace, () => {});
    expect(readFileSync(join(workspace, 'file.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('not yours');
  });

  it('refuses to stage a path that would leave the workspace', async () => {
    await expect(stageAndPlace({ '../escape': 'x' })).rejects.toThrow(/".." segment escapes the workspace/);
  });
});

describe('parseManifest', () => {
  const good = {
    version: 1,
    buildId: 'b1',
    jobKey: 'build',
    attempt: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: null,
    files: [{ path: 'dist/a.js', sha256: 'a'.repeat(64), size: 3, mode: 0o644 }],
  };

  it('accepts the version 1 shape', () => expect(parseManifest(good)).toEqual(good));

  it('names the first bad field', () => {
    expect(() => parseManifest({ ...good, files: [{ ...good.files[0], path: '../x' }] }, 'm.json')).toThrow(
      'm.json: files.0.path: bad path: ".." segment escapes the workspace',
    );
    expect(() => parseManifest({ ...good, version: 2 })).toThrow(/version/);
    expect(() => parseManifest({ ...good, files: [good.files[0], good.files[0]] })).toThrow(
      /duplicate path dist\/a\.js/,
    );
  });
});
