import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HiddenPath, StepDirs, StepLaunch } from './sandbox.ts';

/**
 * Flags of every `runsc` call. `ptrace` runs anywhere (no KVM needed). No network: gVisor is the
 * mode for code that must not reach anything, so its steps get only a loopback interface; jobs that
 * fetch dependencies use bubblewrap.
 */
export function runscGlobalArgs(stateRoot: string): string[] {
  return ['--root', stateRoot, '--platform=ptrace', '--network=none'];
}

/** How long `runsc delete` may take when tidying after a step. */
const DELETE_TIMEOUT_MS = 10_000;

/** A mount of an OCI runtime spec. */
interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/**
 * The OCI runtime spec of one step: the host root read-only (gVisor's `runsc do` would overlay it
 * instead, so writes to the workspace would vanish), a fresh `/proc` and `/tmp`, an empty directory
 * over each hidden directory (`/dev/null` over each hidden file), the job's git objects bound
 * back read-only, then the job's workspace and
 * temporary directory bound back read-write at their own paths. Mounts apply in order.
 */
export function gvisorSpec(options: {
  dirs: Omit<StepDirs, 'runnerDir'>;
  hidden: readonly HiddenPath[];
  argv: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
}): object {
  const { dirs, hidden, argv, env, uid, gid } = options;
  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs' },
    ...hidden.map(({ path, kind }): OciMount =>
      kind === 'dir'
        ? { destination: path, type: 'tmpfs', source: 'tmpfs', options: ['ro'] }
        : { destination: path, type: 'bind', source: '/dev/null', options: ['rbind', 'ro'] },
    ),
    ...dirs.readOnly.map((path): OciMount => ({
      destination: path,
      type: 'bind',
      source: path,
      options: ['rbind', 'ro'],
    })),
    { destination: dirs.workspace, type: 'bind', source: dirs.workspace, options: ['rbind', 'rw'] },
    { destination: dirs.tmp, type: 'bind', source: dirs.tmp, options: ['rbind', 'rw'] },
  ];
  return {
    ociVersion: '1.0.0',
    root: { path: '/', readonly: true },
    process: {
      terminal: false,
      user: { uid, gid },
      args: argv,
      env: Object.entries(env).map(([name, value]) => `${name}=${value}`),
      cwd: dirs.workspace,
    },
    hostname: 'kiln',
    mounts,
  };
}

/**
 * A step's shell as a gVisor container, run in the foreground by `runsc run` so that its exit code
 * is the step's and killing its process group stops the sandbox too. Each runner keeps its own
 * `runsc` state root in its directory, so concurrent runners never share one; the bundle holds the
 * step's environment (secret values included) with owner-only permissions and goes with the step.
 */
export async function gvisorLaunch(options: {
  dirs: StepDirs;
  hidden: readonly HiddenPath[];
  argv: string[];
  env: Record<string, string>;
  index: number;
}): Promise<StepLaunch> {
  const { dirs, index } = options;
  const stateRoot = join(dirs.runnerDir, 'gvisor', 'state');
  const bundle = join(dirs.runnerDir, 'gvisor', `step-${index}`);
  // Unique on the host, not only in the state root: runsc names its control socket after it.
  const containerId = `kiln-step-${index}-${randomUUID()}`;
  await mkdir(stateRoot, { recursive: true, mode: 0o700 });
  await mkdir(bundle, { recursive: true, mode: 0o700 });
  const spec = gvisorSpec({ ...options, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
  return {
    command: 'runsc',
    args: [...runscGlobalArgs(stateRoot), 'run', '--bundle', bundle, containerId],
    // runsc needs nothing of the step's environment (the spec carries it): keep secrets out of it.
    env: { PATH: options.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
    cleanup: async () => {
      // A container killed with its `runsc run` stays recorded (as stopped): forget it. One that
      // exited by itself left nothing, and is not worth a `runsc` call on the path to the next step.
      const names = await readdir(stateRoot).catch(() => [] as string[]);
      if (names.some((name) => name.startsWith(`${containerId}_`))) {
        await new Promise<void>((resolve) => {
          execFile(
            'runsc',
            [...runscGlobalArgs(stateRoot), 'delete', '--force', containerId],
            { timeout: DELETE_TIMEOUT_MS },
            () => resolve(),
          );
        });
      }
      await rm(bundle, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
