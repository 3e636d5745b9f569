import { probeIsolation } from '../../adapters/runner/local/sandbox-probe.ts';
import type { IsolationMode } from '../../adapters/runner/local/sandbox.ts';

/**
 * Why a sandbox mode cannot be tested on this host: only when its tool is not installed at all,
 * and never under CI, where the test command installs bubblewrap and runsc itself: a missing
 * tool there must fail the suite, not skip it quietly.
 */
export async function missingSandboxTool(mode: Exclude<IsolationMode, 'none'>): Promise<string | undefined> {
  if (process.env.CI) return undefined;
  const probe = await probeIsolation(mode);
  return !probe.ok && probe.reason.includes('not installed') ? probe.reason : undefined;
}
