import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createPodReaperActivities } from '../../activities/pod-reaper.ts';
import { podName, secretName } from '../../adapters/runner/kubernetes/names.ts';
import { PodReaper, temporalWorkflowState } from '../../adapters/runner/kubernetes/pod-reaper.ts';
import type { RunnerSpec } from '../../adapters/runner/port.ts';
import { loadConfig } from '../../shared/config.ts';
import { jobWorkflowId } from '../../shared/ids.ts';
import { podReaperSchedule } from '../../workers/pod-reaper-schedule.ts';
import { ensureSchedule } from '../../workers/schedules.ts';
import { startKubeFixture, until, type KubeFixture } from './kube-fixture.ts';

let k: KubeFixture;
let client: Client;
let native: NativeConnection;
let workers: Worker[] = [];
let running: Promise<void>[] = [];
const suffix = randomUUID().slice(0, 8);
const queues = { orchestrator: `reaper-orch-${suffix}`, runner: `reaper-runner-${suffix}` };
/** Job workflows that stay open: nothing polls this queue. */
const idleQueue = `idle-${suffix}`;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  k = await startKubeFixture();
  const address = inject('temporalAddress');
  const namespace = inject('temporalNamespace');
  client = new Client({ connection: await Connection.connect({ address }), namespace });
  native = await NativeConnection.connect({ address });
  const podReaper = new PodReaper({
    api: k.api,
    namespace: k.namespace,
    marginMs: 0,
    workflowState: temporalWorkflowState(client),
  });
  workers = [
    await Worker.create({
      connection: native,
      namespace,
      taskQueue: queues.orchestrator,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    }),
    await Worker.create({
      connection: native,
      namespace,
      taskQueue: queues.runner,
      activities: createPodReaperActivities({ podReaper }),
    }),
  ];
  running = workers.map((w) => w.run());
}, 600_000);

afterAll(async () => {
  for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  await Promise.allSettled(running);
  await native?.close();
  await client?.connection.close();
  await k?.stop();
});

function spec(buildId: string, timeoutMs = 3_600_000): RunnerSpec {
  return {
    runnerId: `${buildId}-test-1`,
    buildId,
    jobKey: 'test',
    attempt: 1,
    checkout: { cloneUrl: 'https://git.example.com/a.git', sha: 'b'.repeat(40), ref: 'refs/heads/main' },
    steps: [{ name: 'hold', run: 'sleep 1000', env: {} }],
    env: {},
    timeoutMs,
  };
}

async function openJobWorkflow(buildId: string) {
  return client.workflow.start('jobWorkflow', {
    workflowId: jobWorkflowId(buildId, 'test'),
    taskQueue: idleQueue,
    args: [],
  });
}

describe('pod reaper (schedule → workflow → activity, real API server and Temporal)', () => {
  it('deletes orphaned and expired runners and keeps live ones', async () => {
    const backend = k.backend({ extraLabels: { 'kiln.dev/fake-hold': 'true' } });
    const live = spec(`live-${suffix}`);
    const missing = spec(`missing-${suffix}`); // no job workflow was ever started
    const closed = spec(`closed-${suffix}`);
    const expired = spec(`expired-${suffix}`, 1_000); // open workflow, but past its deadline
    for (const s of [live, missing, closed, expired]) await backend.start(s);
    await openJobWorkflow(live.buildId);
    await openJobWorkflow(expired.buildId);
    await (await openJobWorkflow(closed.buildId)).terminate('test');
    await new Promise((r) => setTimeout(r, 1_100)); // past the 1 s deadline of `expired`

    const config = loadConfig({
      KILN_ORCHESTRATOR_TASK_QUEUE: queues.orchestrator,
      KILN_RUNNER_TASK_QUEUE: queues.runner,
    });
    const schedule = podReaperSchedule(config);
    expect(schedule.id).toBe('kiln-pod-reaper');
    await ensureSchedule(client, schedule);
    const handle = client.schedule.getHandle(schedule.id);
    try {
      await handle.trigger();
      const names = async () => new Set((await k.pods()).map((p) => p.metadata?.name));
      await until(async () => {
        const left = await names();
        return [missing, closed, expired].every((s) => !left.has(podName(s.runnerId))) ? true : undefined;
      });
      expect(await names()).toContain(podName(live.runnerId));
      const secrets = new Set(
        (await k.core.listNamespacedSecret({ namespace: k.namespace })).items.map((s) => s.metadata?.name),
      );
      expect(secrets).toContain(secretName(live.runnerId));
      expect(secrets).not.toContain(secretName(missing.runnerId));
      expect(secrets).not.toContain(secretName(closed.runnerId));
    } finally {
      await handle.delete();
      await client.workflow.getHandle(jobWorkflowId(live.buildId, 'test')).terminate('test over');
      await client.workflow.getHandle(jobWorkflowId(expired.buildId, 'test')).terminate('test over');
    }
  });
});
