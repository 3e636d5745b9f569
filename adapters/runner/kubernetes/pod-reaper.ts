import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { KubeApi } from './kube-api.ts';
import { podName } from './names.ts';
import { KUBE_ANNOTATIONS, KUBE_LABELS, MANAGED_BY } from './pod-spec.ts';

/** Whether a job workflow still runs. */
export type WorkflowState = 'running' | 'closed' | 'missing';

export interface PodReaperOptions {
  api: KubeApi;
  namespace: string;
  /** Pods are deleted this long past their deadline annotation, whatever their workflow says. */
  marginMs: number;
  /** Looks a job workflow up (see {@link temporalWorkflowState}). */
  workflowState(workflowId: string): Promise<WorkflowState>;
}

/** What one pass deleted, by object name. */
export interface ReapResult {
  pods: string[];
  secrets: string[];
  kept: number;
}

/**
 * Deletes what Kiln left in the runner namespace: pods past their deadline plus a margin (a job
 * awaited by nobody any more), pods and Secrets whose job workflow is closed or unknown (the
 * workflow's own clean-up never ran: a terminated workflow, a lost history), and Secrets whose
 * pod is gone under the same rule. The workflow is asked only for objects not already expired.
 */
export class PodReaper {
  readonly #o: PodReaperOptions;

  constructor(options: PodReaperOptions) {
    this.#o = options;
  }

  async reap(now: number): Promise<ReapResult> {
    const { api, namespace } = this.#o;
    const selector = `${KUBE_LABELS.managedBy}=${MANAGED_BY}`;
    const result: ReapResult = { pods: [], secrets: [], kept: 0 };
    const states = new Map<string, Promise<WorkflowState>>();
    const stateOf = (id: string) => {
      let state = states.get(id);
      if (state === undefined) {
        state = this.#o.workflowState(id);
        states.set(id, state);
      }
      return state;
    };

    const pods = await api.listPods(namespace, selector);
    const livePods = new Set<string>();
    for (const pod of pods) {
      const name = pod.metadata?.name ?? '';
      if (await this.#orphan(pod.metadata, now, stateOf, true)) {
        if (await api.deletePod(namespace, name)) result.pods.push(name);
      } else {
        livePods.add(name);
        result.kept += 1;
      }
    }
    for (const secret of await api.listSecrets(namespace, selector)) {
      const runnerId = secret.metadata?.annotations?.[KUBE_ANNOTATIONS.runnerId];
      if (runnerId === undefined || livePods.has(podName(runnerId))) continue;
      const name = secret.metadata?.name ?? '';
      if (await this.#orphan(secret.metadata, now, stateOf, false)) {
        if (await api.deleteSecret(namespace, name)) result.secrets.push(name);
      } else {
        result.kept += 1;
      }
    }
    return result;
  }

  async #orphan(
    metadata: V1ObjectMeta | undefined,
    now: number,
    stateOf: (id: string) => Promise<WorkflowState>,
    hasDeadline: boolean,
  ): Promise<boolean> {
    const annotations = metadata?.annotations ?? {};
    if (hasDeadline) {
      const deadline = Date.parse(annotations[KUBE_ANNOTATIONS.deadline] ?? '');
      if (!Number.isNaN(deadline) && now > deadline + this.#o.marginMs) return true;
    }
    const workflowId = annotations[KUBE_ANNOTATIONS.workflowId];
    if (workflowId === undefined) return false; // not one of ours to judge
    return (await stateOf(workflowId)) !== 'running';
  }
}

/** Asks Temporal whether a workflow runs: not found (never started, or deleted by retention) counts as gone. */
export function temporalWorkflowState(client: Client): (workflowId: string) => Promise<WorkflowState> {
  return async (workflowId) => {
    try {
      const description = await client.workflow.getHandle(workflowId).describe();
      return description.status.name === 'RUNNING' ? 'running' : 'closed';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'missing';
      throw err;
    }
  };
}
