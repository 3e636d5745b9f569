import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.ts';
import { resolveRunnerIsolation, resolveRunnerSandbox } from '../../workers/runner-isolation.ts';
import { missingSandboxTool } from './sandbox-tools.ts';

const bubblewrapMissing = await missingSandboxTool('bubblewrap');
const gvisorMissing = await missingSandboxTool('gvisor');

/** Runs `body` with a PATH where no sandbox tool can be found: a host without them, for real. */
async function withoutTools<T>(body: () => Promise<T>): Promise<T> {
  const empty = mkdtempSync(join(tmpdir(), 'kiln-empty-path-'));
  const saved = process.env.PATH;
  process.env.PATH = empty;
  try {
    return await body();
  } finally {
    process.env.PATH = saved;
    rmSync(empty, { recursive: true, force: true });
  }
}

describe('KILN_RUNNER_ISOLATION', () => {
  const warnings: string[] = [];
  const warn = (line: string) => warnings.push(line);
  afterEach(() => {
    warnings.length = 0;
  });

  it('accepts the three modes and leaves the choice to the host when unset', () => {
    expect(loadConfig({}).KILN_RUNNER_ISOLATION).toBeUndefined();
    for (const mode of ['none', 'bubblewrap', 'gvisor'] as const) {
      expect(loadConfig({ KILN_RUNNER_ISOLATION: mode }).KILN_RUNNER_ISOLATION).toBe(mode);
    }
  });

  it('rejects another value, naming the variable', () => {
    expect(() => loadConfig({ KILN_RUNNER_ISOLATION: 'docker' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_RUNNER_ISOLATION: 'docker' })).toThrow(
      /^KILN_RUNNER_ISOLATION: .*"docker"/,
    );
  });

  it('keeps none when asked for, without a warning', async () => {
    expect(await resolveRunnerIsolation({ KILN_RUNNER_ISOLATION: 'none' }, warn)).toBe('none');
    expect(warnings).toEqual([]);
  });

  it.skipIf(bubblewrapMissing !== undefined)('defaults to bubblewrap where it works', async () => {
    expect(await resolveRunnerIsolation({ KILN_RUNNER_ISOLATION: undefined }, warn)).toBe('bubblewrap');
    expect(warnings).toEqual([]);
  });

  it.skipIf(gvisorMissing !== undefined)('accepts gvisor asked for where runsc works', async () => {
    expect(await resolveRunnerIsolation({ KILN_RUNNER_ISOLATION: 'gvisor' }, warn)).toBe('gvisor');
    expect(warnings).toEqual([]);
  });

  it('falls back to none with one warning saying why and how to fix it', async () => {
    const mode = await withoutTools(() => resolveRunnerIsolation({ KILN_RUNNER_ISOLATION: undefined }, warn));
    expect(mode).toBe('none');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/WITHOUT isolation: bwrap is not installed \(Debian package bubblewrap\)/);
    expect(warnings[0]).toContain('KILN_RUNNER_ISOLATION=none');
  });

  it('fails at start when an explicit mode is unavailable, never falling back', async () => {
    for (const [mode, pkg] of [
      ['bubblewrap', 'bubblewrap'],
      ['gvisor', 'runsc'],
    ] as const) {
      const attempt = withoutTools(() => resolveRunnerIsolation({ KILN_RUNNER_ISOLATION: mode }, warn));
      await expect(attempt).rejects.toThrow(ConfigError);
      await expect(attempt).rejects.toThrow(
        new RegExp(`^KILN_RUNNER_ISOLATION: ${mode} is unavailable on this host: .*Debian package ${pkg}`),
      );
    }
    expect(warnings).toEqual([]);
  });

  it('defaults KILN_RUNNER_NETWORK to none and refuses host with gvisor, naming the variable', async () => {
    expect(loadConfig({}).KILN_RUNNER_NETWORK).toBe('none');
    expect(() => loadConfig({ KILN_RUNNER_NETWORK: 'bridge' })).toThrow(/^KILN_RUNNER_NETWORK: /);
    const attempt = resolveRunnerSandbox(
      { KILN_RUNNER_ISOLATION: 'gvisor', KILN_RUNNER_NETWORK: 'host' },
      warn,
    );
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(
      /^KILN_RUNNER_NETWORK: host is not supported with KILN_RUNNER_ISOLATION=gvisor/,
    );
    expect(
      await resolveRunnerSandbox({ KILN_RUNNER_ISOLATION: 'none', KILN_RUNNER_NETWORK: 'host' }, warn),
    ).toEqual({
      mode: 'none',
      network: 'host',
    });
  });
});
