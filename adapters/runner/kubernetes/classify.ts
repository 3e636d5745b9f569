import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { FailureCodes, type FailureCode } from '../../../shared/errors.ts';
import type { RunnerOutcome, RunnerProgress } from '../port.ts';
import { CHECKOUT_CONTAINER, KUBE_ANNOTATIONS, stepContainerName } from './pod-spec.ts';

/**
 * What one look at a runner pod says, as a pure function of the pod (and the clock), so every
 * row of the classification table is tested without a cluster:
 *
 * | pod                                                      | verdict                               |
 * | -------------------------------------------------------- | ------------------------------------- |
 * | a step container terminated with exit ≠ 0                | `failed` with that step and exit code |
 * | the checkout container terminated with exit ≠ 0          | `CHECKOUT_FAILED`                     |
 * | phase `Succeeded`                                        | `succeeded`                           |
 * | phase `Failed`, reason `DeadlineExceeded`                | `timed_out` (the step that was going) |
 * | reason `Evicted`, or evicted / preempted (DisruptionTarget) | `EVICTED`                          |
 * | node lost, deleted by the taint manager or pod GC        | `RUNNER_LOST`                         |
 * | being deleted (`deletionTimestamp`)                      | `deleting`: cancelled or lost, the caller knows |
 * | image pull failing (`ErrImagePull`, `ImagePullBackOff`…) past a grace period | `RUNNER_START_FAILED` |
 * | not scheduled within the scheduling timeout             | `RUNNER_START_FAILED`                 |
 * | otherwise                                                | `pending`, with progress              |
 */
export type PodVerdict =
  | { kind: 'pending'; progress: RunnerProgress; startProblem?: string }
  | { kind: 'deleting' }
  | { kind: 'outcome'; outcome: RunnerOutcome }
  | { kind: 'error'; code: FailureCode; message: string };

export interface ClassifyOptions {
  now: number;
  /** A pod not scheduled for this long (since its creation) failed to start. */
  scheduleTimeoutMs: number;
  /** Since when the caller has seen the current start problem (image pull), if any. */
  startProblemSince?: number;
  /** How long a start problem may last before the start counts as failed. */
  startProblemGraceMs: number;
}

/** Waiting reasons that mean the container cannot start as things are (image or config problems). */
const START_PROBLEMS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
]);
const EVICTION_REASONS = new Set(['EvictionByEvictionAPI', 'PreemptionByScheduler', 'TerminationByKubelet']);
const NODE_LOSS_REASONS = new Set(['DeletionByTaintManager', 'DeletionByPodGC', 'NodeLost']);

/** Step names by container name, from the pod's `kiln.dev/steps` annotation. */
export function stepNamesOf(pod: V1Pod): Map<string, string> {
  const names = new Map<string, string>();
  let list: unknown;
  try {
    list = JSON.parse(pod.metadata?.annotations?.[KUBE_ANNOTATIONS.steps] ?? '[]');
  } catch {
    list = [];
  }
  if (Array.isArray(list)) list.forEach((name, i) => names.set(stepContainerName(i), String(name)));
  return names;
}

/** The container statuses in execution order: checkout, the step init containers, the last step. */
export function orderedStatuses(pod: V1Pod): V1ContainerStatus[] {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const order = [
    ...(pod.spec?.initContainers ?? []).map((c) => c.name),
    ...(pod.spec?.containers ?? []).map((c) => c.name),
  ];
  return statuses.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}

export function classifyPod(pod: V1Pod, options: ClassifyOptions): PodVerdict {
  const status = pod.status ?? {};
  const steps = stepNamesOf(pod);
  const stepOf = (container: string) => steps.get(container) ?? container;
  const disruption = status.conditions?.find((c) => c.type === 'DisruptionTarget' && c.status === 'True');

  if (status.reason === 'Evicted' || (disruption && EVICTION_REASONS.has(disruption.reason ?? ''))) {
    return error(
      FailureCodes.EVICTED,
      `pod was evicted: ${status.message ?? disruption?.message ?? status.reason}`,
    );
  }
  if (status.reason === 'NodeLost' || (disruption && NODE_LOSS_REASONS.has(disruption.reason ?? ''))) {
    return error(
      FailureCodes.RUNNER_LOST,
      `pod lost its node: ${status.message ?? disruption?.message ?? status.reason}`,
    );
  }

  const ordered = orderedStatuses(pod);
  for (const container of ordered) {
    const exitCode = container.state?.terminated?.exitCode;
    if (exitCode === undefined || exitCode === 0) continue;
    if (pod.metadata?.deletionTimestamp && status.phase !== 'Failed') return { kind: 'deleting' };
    if (status.reason === 'DeadlineExceeded') break;
    if (container.name === CHECKOUT_CONTAINER) {
      const why = container.state?.terminated?.message ?? container.state?.terminated?.reason ?? 'error';
      return error(FailureCodes.CHECKOUT_FAILED, `checkout exited with code ${exitCode}: ${why}`);
    }
    return { kind: 'outcome', outcome: { status: 'failed', exitCode, failedStep: stepOf(container.name) } };
  }
  if (status.phase === 'Failed' && status.reason === 'DeadlineExceeded') {
    const current = ordered.find((c) => c.name !== CHECKOUT_CONTAINER && c.state?.terminated?.exitCode !== 0);
    return {
      kind: 'outcome',
      outcome: current ? { status: 'timed_out', failedStep: stepOf(current.name) } : { status: 'timed_out' },
    };
  }
  if (status.phase === 'Succeeded') return { kind: 'outcome', outcome: { status: 'succeeded', exitCode: 0 } };
  if (pod.metadata?.deletionTimestamp) return { kind: 'deleting' };
  if (status.phase === 'Failed') {
    return error(
      FailureCodes.RUNNER_LOST,
      `pod failed without a failing step: ${status.reason ?? 'no reason'}${status.message ? `: ${status.message}` : ''}`,
    );
  }

  // Still going: pending or running.
  const problem = ordered.find((c) => START_PROBLEMS.has(c.state?.waiting?.reason ?? ''));
  const startProblem = problem
    ? `container ${problem.name}: ${problem.state?.waiting?.reason}: ${problem.state?.waiting?.message ?? ''}`.trim()
    : undefined;
  if (startProblem && options.startProblemSince !== undefined) {
    if (options.now - options.startProblemSince >= options.startProblemGraceMs) {
      return error(FailureCodes.RUNNER_START_FAILED, `pod cannot start: ${startProblem}`);
    }
  }
  const scheduled = status.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True');
  const createdAt = toMs(pod.metadata?.creationTimestamp) ?? options.now;
  if (!scheduled && options.now - createdAt >= options.scheduleTimeoutMs) {
    const why = status.conditions?.find((c) => c.type === 'PodScheduled')?.message ?? 'no node was found';
    return error(
      FailureCodes.RUNNER_START_FAILED,
      `pod was not scheduled within ${Math.round(options.scheduleTimeoutMs / 1000)} s: ${why}`,
    );
  }
  return {
    kind: 'pending',
    progress: progressOf(ordered, stepOf),
    ...(startProblem ? { startProblem } : {}),
  };
}

function progressOf(ordered: V1ContainerStatus[], stepOf: (container: string) => string): RunnerProgress {
  const running = ordered.find((c) => c.state?.running !== undefined);
  if (running) {
    return running.name === CHECKOUT_CONTAINER
      ? { phase: 'checkout' }
      : { phase: 'running', step: stepOf(running.name) };
  }
  const checkout = ordered.find((c) => c.name === CHECKOUT_CONTAINER);
  if (checkout?.state?.terminated?.exitCode === 0) {
    const next = ordered.find((c) => c.name !== CHECKOUT_CONTAINER && c.state?.terminated === undefined);
    return next ? { phase: 'running', step: stepOf(next.name) } : { phase: 'checkout' };
  }
  return ordered.length > 0 ? { phase: 'checkout' } : { phase: 'starting' };
}

function error(code: FailureCode, message: string): PodVerdict {
  return { kind: 'error', code, message };
}

function toMs(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}
