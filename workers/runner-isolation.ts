import { probeIsolation } from '../adapters/runner/local/sandbox-probe.ts';
import type { IsolationMode, RunnerNetwork } from '../adapters/runner/local/sandbox.ts';
import { ConfigError, type KilnConfig } from '../shared/config.ts';

/**
 * The isolation mode of the local runner's steps, checked on this host at start. Unset, it is
 * bubblewrap when bubblewrap works, else none with one warning saying why and how to fix it. A
 * mode asked for explicitly but unavailable is a configuration error: Kiln never runs jobs with
 * less isolation than it was told to.
 */
export async function resolveRunnerIsolation(
  config: Pick<KilnConfig, 'KILN_RUNNER_ISOLATION'>,
  warn: (line: string) => void = (line) => console.warn(line),
): Promise<IsolationMode> {
  const requested = config.KILN_RUNNER_ISOLATION;
  if (requested !== undefined) {
    const probe = await probeIsolation(requested);
    if (!probe.ok) {
      throw new ConfigError(
        'KILN_RUNNER_ISOLATION',
        `${requested} is unavailable on this host: ${probe.reason} (or choose another mode: none, bubblewrap, gvisor)`,
      );
    }
    return requested;
  }
  const probe = await probeIsolation('bubblewrap');
  if (probe.ok) return 'bubblewrap';
  warn(
    `kiln: warning: job steps run WITHOUT isolation: ${probe.reason}; ` +
      'fix that, or set KILN_RUNNER_ISOLATION=none to accept it',
  );
  return 'none';
}

/**
 * The isolation mode (see `resolveRunnerIsolation`) and the network of the local runner's steps.
 * gVisor steps get no network: `host` with gVisor is a configuration error rather than a silent
 * `none`, so a pipeline that needs the network fails at start, not in its first job.
 */
export async function resolveRunnerSandbox(
  config: Pick<KilnConfig, 'KILN_RUNNER_ISOLATION' | 'KILN_RUNNER_NETWORK'>,
  warn?: (line: string) => void,
): Promise<{ mode: IsolationMode; network: RunnerNetwork }> {
  const network = config.KILN_RUNNER_NETWORK;
  if (config.KILN_RUNNER_ISOLATION === 'gvisor' && network === 'host') {
    throw new ConfigError(
      'KILN_RUNNER_NETWORK',
      'host is not supported with KILN_RUNNER_ISOLATION=gvisor (gVisor steps have no network); use none, or bubblewrap isolation',
    );
  }
  return { mode: await resolveRunnerIsolation(config, warn), network };
}
