import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IsolationMode, RunnerNetwork } from './sandbox.ts';
import { bubblewrapArgs } from './sandbox-bwrap.ts';
import { gvisorSpec, runscGlobalArgs } from './sandbox-gvisor.ts';

/** Whether a mode works on this host; when not, why, in a sentence that ends with the fix. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

const PROBE_TIMEOUT_MS = 20_000;

/**
 * Tries the mode for real: `true` in a sandbox built exactly as a step's (same flags, same kinds
 * of mounts), so a kernel without unprivileged user namespaces, a missing binary or a runtime that
 * needs root shows now rather than in the first job.
 */
export async function probeIsolation(
  mode: IsolationMode,
  network: RunnerNetwork = 'none',
): Promise<ProbeResult> {
  if (mode === 'none') return { ok: true };
  const dir = await mkdtemp(join(tmpdir(), 'kiln-isolation-probe-'));
  try {
    return mode === 'bubblewrap' ? await probeBubblewrap(dir, network) : await probeGvisor(dir);
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function probeBubblewrap(dir: string, network: RunnerNetwork): Promise<ProbeResult> {
  const failure = await tryRun('bwrap', [
    ...bubblewrapArgs({ workspace: dir, tmp: dir, readOnly: [] }, [{ path: dir, kind: 'dir' }], network),
    '--',
    'true',
  ]);
  if (failure === undefined) return { ok: true };
  if (failure === 'ENOENT') {
    return { ok: false, reason: 'bwrap is not installed (Debian package bubblewrap)' };
  }
  return {
    ok: false,
    reason: `bwrap cannot create a sandbox here (${failure}); allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run Kiln as root`,
  };
}

async function probeGvisor(dir: string): Promise<ProbeResult> {
  const bundle = join(dir, 'bundle');
  const stateRoot = join(dir, 'state');
  await Promise.all([mkdir(bundle), mkdir(stateRoot)]);
  const spec = gvisorSpec({
    dirs: { workspace: dir, tmp: dir, readOnly: [] },
    hidden: [],
    argv: ['true'],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
  });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
  const failure = await tryRun('runsc', [
    ...runscGlobalArgs(stateRoot),
    'run',
    '--bundle',
    bundle,
    // Unique on the host: runsc names its control socket after the container id.
    `kiln-probe-${randomUUID()}`,
  ]);
  if (failure === undefined) return { ok: true };
  if (failure === 'ENOENT') return { ok: false, reason: 'runsc is not installed (Debian package runsc)' };
  return {
    ok: false,
    reason: `runsc cannot start a container here (${failure}); gVisor needs root and ptrace`,
  };
}

/** Runs a command; undefined when it exits 0, 'ENOENT' when missing, else its last error line. */
function tryRun(command: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: PROBE_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err === null) return resolve(undefined);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return resolve('ENOENT');
      const line = stderr.trim().split('\n').pop()?.trim();
      resolve(line !== undefined && line !== '' ? line : err.message);
    });
  });
}
