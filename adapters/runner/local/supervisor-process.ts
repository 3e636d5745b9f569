import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SUPERVISOR = fileURLToPath(new URL('./supervisor.ts', import.meta.url));

/** Where the supervisors of `runnersDir` start: their working directory and their output file. */
export interface SupervisorLaunch {
  runnersDir: string;
  cwd: string;
  logPath: string;
}

/**
 * Starts `node supervisor.ts <args>` detached (own session and process group), its output appended
 * to `logPath`; resolves with its pid once it runs.
 */
export async function spawnSupervisor(args: string[], launch: SupervisorLaunch): Promise<number> {
  const log = await open(launch.logPath, 'a');
  try {
    const child = spawn(process.execPath, [SUPERVISOR, ...args], {
      cwd: launch.cwd,
      detached: true,
      // Node's compile cache (shared by every supervisor on this machine) roughly halves the
      // supervisor's start-up, which is on the critical path of every job started cold.
      env: { ...process.env, NODE_COMPILE_CACHE: join(launch.runnersDir, '.node-compile-cache') },
      stdio: ['ignore', log.fd, log.fd],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
    });
    child.unref();
    return pid;
  } finally {
    await log.close();
  }
}

/** True when `commandLine` (of a live process) is a supervisor started with `args`. */
export function isSupervisorCommand(commandLine: string, args: string[]): boolean {
  return commandLine
    .split('\0')
    .join(' ')
    .includes([SUPERVISOR, ...args].join(' '));
}
