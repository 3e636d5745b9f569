import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { classifyPod, type ClassifyOptions } from '../../adapters/runner/kubernetes/classify.ts';

/**
 * The rows of the classification table the fake node cannot produce (eviction, deadline, image
 * pull, node loss); the others are exercised against the real API server too.
 */
const NOW = Date.parse('2026-03-01T12:10:00Z');
const options: ClassifyOptions = { now: NOW, scheduleTimeoutMs: 300_000, startProblemGraceMs: 120_000 };

function pod(status: V1Pod['status'], extra: Partial<V1Pod['metadata']> = {}): V1Pod {
  return {
    metadata: {
      creationTimestamp: new Date('2026-03-01T12:09:00Z'),
      annotations: { 'kiln.dev/steps': JSON.stringify(['install', 'test']) },
      ...extra,
    },
    spec: { initContainers: [{ name: 'checkout' }, { name: 'step-1' }], containers: [{ name: 'step-2' }] },
    status,
  } as V1Pod;
}
const done = (name: string, exitCode: number): V1ContainerStatus =>
  ({ name, state: { terminated: { exitCode } } }) as V1ContainerStatus;
const running = (name: string): V1ContainerStatus => ({ name, state: { running: {} } }) as V1ContainerStatus;
const waiting = (name: string, reason: string): V1ContainerStatus =>
  ({ name, state: { waiting: { reason, message: 'pull access denied' } } }) as V1ContainerStatus;
const scheduled = [{ type: 'PodScheduled', status: 'True' }];

describe('pod classification', () => {
  it('names the first failing step', () => {
    const p = pod({
      phase: 'Failed',
      initContainerStatuses: [done('checkout', 0), done('step-1', 2)],
      containerStatuses: [waiting('step-2', 'PodInitializing')],
    });
    expect(classifyPod(p, options)).toEqual({
      kind: 'outcome',
      outcome: { status: 'failed', exitCode: 2, failedStep: 'install' },
    });
  });

  it('reports a failed checkout as CHECKOUT_FAILED', () => {
    const p = pod({ phase: 'Failed', initContainerStatuses: [done('checkout', 128)] });
    expect(classifyPod(p, options)).toMatchObject({ kind: 'error', code: 'CHECKOUT_FAILED' });
  });

  it('reports the deadline as timed_out in the step that was running', () => {
    const p = pod({
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      initContainerStatuses: [done('checkout', 0), done('step-1', 0)],
      containerStatuses: [done('step-2', 137)],
    });
    expect(classifyPod(p, options)).toEqual({
      kind: 'outcome',
      outcome: { status: 'timed_out', failedStep: 'test' },
    });
  });

  it('reports an eviction as EVICTED and a lost node as RUNNER_LOST', () => {
    expect(
      classifyPod(pod({ phase: 'Failed', reason: 'Evicted', message: 'low on memory' }), options),
    ).toMatchObject({
      kind: 'error',
      code: 'EVICTED',
    });
    const preempted = pod({
      phase: 'Running',
      conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler' }],
    });
    expect(classifyPod(preempted, options)).toMatchObject({ kind: 'error', code: 'EVICTED' });
    const gc = pod({
      phase: 'Running',
      conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'DeletionByTaintManager' }],
    });
    expect(classifyPod(gc, options)).toMatchObject({ kind: 'error', code: 'RUNNER_LOST' });
  });

  it('tolerates an image pull problem during the grace period, then fails the start', () => {
    const p = pod({
      phase: 'Pending',
      conditions: scheduled,
      containerStatuses: [waiting('step-2', 'ImagePullBackOff')],
    });
    expect(classifyPod(p, options)).toMatchObject({
      kind: 'pending',
      startProblem: expect.stringContaining('ImagePullBackOff'),
    });
    expect(classifyPod(p, { ...options, startProblemSince: NOW - 60_000 })).toMatchObject({
      kind: 'pending',
    });
    expect(classifyPod(p, { ...options, startProblemSince: NOW - 120_000 })).toMatchObject({
      kind: 'error',
      code: 'RUNNER_START_FAILED',
    });
  });

  it('fails a pod left unscheduled past the timeout', () => {
    const p = pod({
      phase: 'Pending',
      conditions: [{ type: 'PodScheduled', status: 'False', message: '0/3 nodes' }],
    });
    expect(classifyPod(p, options)).toMatchObject({ kind: 'pending' });
    expect(classifyPod(p, { ...options, scheduleTimeoutMs: 30_000 })).toMatchObject({
      kind: 'error',
      code: 'RUNNER_START_FAILED',
      message: expect.stringContaining('0/3 nodes'),
    });
  });

  it('sees a pod being deleted, whatever its containers say', () => {
    const p = pod(
      { phase: 'Running', containerStatuses: [done('step-2', 143)] },
      { deletionTimestamp: new Date(NOW) },
    );
    expect(classifyPod(p, options)).toEqual({ kind: 'deleting' });
  });

  it('reports progress by the container that runs', () => {
    const p = pod({
      phase: 'Pending',
      conditions: scheduled,
      initContainerStatuses: [done('checkout', 0), running('step-1')],
    });
    expect(classifyPod(p, options)).toEqual({
      kind: 'pending',
      progress: { phase: 'running', step: 'install' },
    });
    const checkout = pod({
      phase: 'Pending',
      conditions: scheduled,
      initContainerStatuses: [running('checkout')],
    });
    expect(classifyPod(checkout, options)).toEqual({ kind: 'pending', progress: { phase: 'checkout' } });
  });
});
