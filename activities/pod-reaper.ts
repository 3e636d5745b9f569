import type { PodReaper, ReapResult } from '../adapters/runner/kubernetes/pod-reaper.ts';

/** The pod reaper's activity; it does nothing on workers without Kubernetes runners. */
export function createPodReaperActivities(ports: { podReaper?: PodReaper }) {
  return {
    /** Deletes orphaned runner pods and Secrets; `now` comes from the workflow, so a retry decides alike. */
    async reapRunnerPods(input: { now: number }): Promise<ReapResult & { skipped?: true }> {
      if (ports.podReaper === undefined) return { pods: [], secrets: [], kept: 0, skipped: true };
      return ports.podReaper.reap(input.now);
    },
  };
}
