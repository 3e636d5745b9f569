/**
 * Isolation of the steps of a local runner. The supervisor (Kiln's own code) checks out the commit
 * outside any sandbox; each step's shell then runs:
 *
 * - `none`: directly, as the user running Kiln;
 * - `bubblewrap`: under `bwrap`, in fresh namespaces, the host root read-only (see `sandbox-bwrap.ts`);
 * - `gvisor`: in a gVisor container (`runsc run`), under gVisor's own kernel (see `sandbox-gvisor.ts`).
 *
 * In both sandboxes only the job's workspace and temporary directory are writable, Kiln's state
 * (every runner directory: specs holding secret values, sibling workspaces; mirrors, logs) is
 * hidden behind an empty directory, and so are the host's private paths (see `hostPrivatePaths`).
 * The network is the sandbox's own (loopback only) unless `host` is asked for.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { bubblewrapLaunch } from './sandbox-bwrap.ts';
import { gvisorLaunch } from './sandbox-gvisor.ts';
import { writeFileAtomic } from './state.ts';

/** How the steps of a local runner are isolated from the host and from each other. */
export type IsolationMode = 'none' | 'bubblewrap' | 'gvisor';

export const ISOLATION_MODES: readonly IsolationMode[] = ['none', 'bubblewrap', 'gvisor'];

/**
 * The network of a sandboxed step: `none` (its own, loopback only) or `host` (shared with the host,
 * loopback included; bubblewrap only). Without isolation a step always has the host's.
 */
export type RunnerNetwork = 'none' | 'host';

/** What the supervisor of a runner needs to sandbox its steps. */
export interface SandboxSettings {
  mode: IsolationMode;
  /**
   * Host paths the steps must not see (directories hidden behind an empty one, files behind
   * `/dev/null`): the runners directory, mirrors, logs, the secret store. Paths missing on the host
   * are skipped.
   */
  hiddenPaths: string[];
  /** Missing in settings written before the network was configurable: `none`. */
  network?: RunnerNetwork;
}

/** The directories of the job a step may write. */
export interface StepDirs {
  /** The runner directory: where a gVisor bundle and state live (never visible to the step). */
  runnerDir: string;
  workspace: string;
  tmp: string;
  /**
   * Host paths the step may read although they lie under a hidden path: the objects of the job's
   * git mirror, which the checkout borrows (git alternates). Fixed by the supervisor, never read
   * from the workspace, where a step could rewrite them.
   */
  readOnly: string[];
}

/** How to start one step: the process to spawn, and what to tidy once it exited. */
export interface StepLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Removes what the launch left on the host (a gVisor container's state); never throws. */
  cleanup(): Promise<void>;
}

/** The shell a step's `run` goes to, in every mode: `-e` stops at the first failing command. */
export function stepShell(run: string): string[] {
  return ['sh', '-e', '-c', run];
}

/** How to start step number `index` (from 0) of a runner running `run` with `env`. */
export async function stepLaunch(
  settings: SandboxSettings,
  dirs: StepDirs,
  index: number,
  run: string,
  env: Record<string, string>,
): Promise<StepLaunch> {
  const [command, ...args] = stepShell(run) as [string, ...string[]];
  const hidden = presentHiddenPaths(settings.hiddenPaths);
  const readOnly = dirs.readOnly.filter((path) => existsSync(path));
  const visible = { ...dirs, readOnly };
  switch (settings.mode) {
    case 'none':
      return { command, args, env, cleanup: () => Promise.resolve() };
    case 'bubblewrap':
      return bubblewrapLaunch({
        dirs: visible,
        hidden,
        network: settings.network ?? 'none',
        argv: [command, ...args],
        env,
      });
    case 'gvisor':
      return gvisorLaunch({ dirs: visible, hidden, argv: [command, ...args], env, index });
  }
}

/** A hidden host path and what it is, so that it is covered by the right kind of mount. */
export interface HiddenPath {
  path: string;
  kind: 'dir' | 'file';
}

/**
 * Host paths no step has any business reading, hidden in every sandbox: the home directory of the
 * user running Kiln (`$HOME` and the account's own, when they differ: SSH keys, cloud credentials,
 * kubeconfigs), the password hashes (a gVisor step runs as root inside its sandbox, and so does a
 * bubblewrap step of a Kiln running as root) and the secrets a container runtime mounts.
 */
export function hostPrivatePaths(): string[] {
  const homes = [homedir()];
  try {
    homes.push(userInfo().homedir);
  } catch {
    // No account entry for this uid (some containers): $HOME is all there is.
  }
  return [
    ...homes,
    '/etc/shadow',
    '/etc/shadow-',
    '/etc/gshadow',
    '/etc/gshadow-',
    '/run/secrets',
    '/var/run/secrets',
  ];
}

/**
 * The hidden paths that exist, at their real paths (a symlink's target is what a step would read;
 * two names of one directory are hidden once), parents first (a child hidden after its parent stays
 * hidden). The root itself is never hidden: an account whose home is `/` keeps a usable sandbox.
 */
export function presentHiddenPaths(paths: readonly string[]): HiddenPath[] {
  const present = new Map<string, HiddenPath>();
  for (const requested of paths) {
    try {
      const path = realpathSync(requested);
      if (path === '/') continue;
      present.set(path, { path, kind: statSync(path).isDirectory() ? 'dir' : 'file' });
    } catch {
      // Missing on the host: nothing to hide (and a read-only root offers no mount point for it).
    }
  }
  return [...present.values()].sort((a, b) => a.path.length - b.path.length);
}

const SETTINGS_FILE = 'sandbox.json';

/** Written by the backend into the runner directory before a supervisor takes the runner. */
export async function writeSandboxSettings(runnerDir: string, settings: SandboxSettings): Promise<void> {
  await writeFileAtomic(join(runnerDir, SETTINGS_FILE), JSON.stringify(settings));
}

/** The settings the backend left in the runner directory; no isolation when there are none. */
export function readSandboxSettings(runnerDir: string): SandboxSettings {
  try {
    return JSON.parse(readFileSync(join(runnerDir, SETTINGS_FILE), 'utf8')) as SandboxSettings;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { mode: 'none', hiddenPaths: [] };
    throw err;
  }
}
