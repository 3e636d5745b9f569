import type { HiddenPath, RunnerNetwork, StepDirs, StepLaunch } from './sandbox.ts';

/**
 * Namespaces and lifetime of every bubblewrap sandbox. Every namespace is new, the network too
 * unless `host` is asked for: a step sharing the host's network reaches whatever listens on its
 * loopback (Kiln's own Temporal, Redis and API among them), so sharing it is opt-in.
 * `--die-with-parent` takes the whole sandbox down with its `bwrap` process (killed as the step's
 * process group) or with the supervisor; `--new-session` keeps a step off the supervisor's terminal.
 */
export function bwrapNamespaceArgs(network: RunnerNetwork): string[] {
  return [
    '--unshare-all',
    ...(network === 'host' ? ['--share-net'] : []),
    '--die-with-parent',
    '--new-session',
  ];
}

/**
 * The mounts of a step's sandbox, in order: bubblewrap applies them one after the other and cannot
 * create a mount point inside a read-only directory, so each lands where a path exists or can be
 * made by then. The host root read-only; a fresh `/dev`, `/proc` and `/tmp`; an empty directory
 * over each hidden directory (`/dev/null` over a hidden file); the job's git objects bound back
 * read-only and its workspace and temporary directory read-write, at their own paths (bubblewrap
 * makes their mount points inside the empty directories); last the empty directories turned
 * read-only, so that nothing but the job's own directories (and the private `/tmp`) takes a write.
 */
export function bubblewrapArgs(
  dirs: Omit<StepDirs, 'runnerDir'>,
  hidden: readonly HiddenPath[],
  network: RunnerNetwork = 'none',
): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  for (const { path, kind } of hidden) {
    args.push(...(kind === 'dir' ? ['--tmpfs', path] : ['--ro-bind', '/dev/null', path]));
  }
  for (const path of dirs.readOnly) args.push('--ro-bind', path, path);
  args.push('--bind', dirs.workspace, dirs.workspace, '--bind', dirs.tmp, dirs.tmp);
  // Read-only only now that the mount points above exist; the binds inside stay as they are.
  for (const { path, kind } of hidden) if (kind === 'dir') args.push('--remount-ro', path);
  return [...args, ...bwrapNamespaceArgs(network), '--chdir', dirs.workspace];
}

/** A step's shell under `bwrap`; its environment passes through bubblewrap unchanged. */
export function bubblewrapLaunch(options: {
  dirs: StepDirs;
  hidden: readonly HiddenPath[];
  network: RunnerNetwork;
  argv: string[];
  env: Record<string, string>;
}): StepLaunch {
  const { dirs, hidden, network, argv, env } = options;
  return {
    command: 'bwrap',
    args: [...bubblewrapArgs(dirs, hidden, network), '--', ...argv],
    env,
    cleanup: () => Promise.resolve(),
  };
}
