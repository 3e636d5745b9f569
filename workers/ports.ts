import { FileLogStore } from '../adapters/logs/file-logs.ts';
import type { LogStore } from '../adapters/logs/port.ts';
import { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import type { RunnerBackend } from '../adapters/runner/port.ts';
import { GitVcs } from '../adapters/vcs/git-vcs.ts';
import type { Vcs } from '../adapters/vcs/port.ts';
import type { KilnConfig } from '../shared/config.ts';
import { dataDirs } from './data-dirs.ts';

export interface KilnPorts {
  vcs: Vcs;
  runner: RunnerBackend;
  logs: LogStore;
}

/** The one place where configuration selects adapters. */
export function createPorts(config: KilnConfig): KilnPorts {
  const dirs = dataDirs(config.KILN_DATA_DIR);
  const vcs = new GitVcs({ mirrorsDir: dirs.mirrors });
  const runner = new LocalRunnerBackend({
    runnersDir: dirs.runners,
    mirrorsDir: dirs.mirrors,
    logsDir: dirs.logs,
  });
  return { vcs, runner, logs: new FileLogStore({ logsDir: dirs.logs }) };
}
