import type { RunnerProgress } from './port.ts';

/**
 * Wraps a `wait` caller's progress callback so it hears each change once: backends observe the
 * same state many times (every watch event, every poll) and the caller heartbeats on each report.
 */
export function reportChangesOnly(
  onProgress: ((progress: RunnerProgress) => void) | undefined,
): (progress: RunnerProgress) => void {
  let last = '';
  return (progress) => {
    const key = JSON.stringify(progress);
    if (key === last) return;
    last = key;
    onProgress?.(progress);
  };
}
