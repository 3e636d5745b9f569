import { isFinalBuildStatus, type BuildState } from '../shared/build-state.ts';
import type { KilnApiClient } from './api-client.ts';
import { renderBuild } from './render.ts';

/**
 * Follows a build in the terminal: the job table is redrawn in place while it runs (or printed
 * on change when stdout is not a terminal), then the final summary. Resolves with the final state.
 */
export async function followBuild(
  api: KilnApiClient,
  buildId: string,
  intervalMs = 500,
): Promise<BuildState> {
  let previous = '';
  let drawnLines = 0;
  for (;;) {
    const build = await api.getBuild(buildId);
    const text = renderBuild(build);
    if (text !== previous) {
      if (process.stdout.isTTY && drawnLines > 0) process.stdout.write(`\x1b[${drawnLines}A\x1b[0J`);
      process.stdout.write(`${text}\n`);
      drawnLines = text.split('\n').length;
      previous = text;
    }
    if (isFinalBuildStatus(build.status)) return build;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
