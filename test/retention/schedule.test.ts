import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Client, Connection, ScheduleOverlapPolicy } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKey } from '../../adapters/artifacts/manifest.ts';
import { loadConfig, type KilnConfig } from '../../shared/config.ts';
import { createPorts, type KilnPorts } from '../../workers/ports.ts';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID } from '../../workers/retention-schedule.ts';
import { startKilnWorkers, type RunningWorkers } from '../../workers/start-workers.ts';
import type { RetentionResult } from '../../workflows/retention.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { eventually } from '../helpers/processes.ts';

const execFileAsync = promisify(execFile);

// The `default` namespace: other files start workers (and so this schedule) in the test namespace.
const NAMESPACE = 'default';

let kiln: Harness;
let config: KilnConfig;
let ports: KilnPorts;
let workers: RunningWorkers;
let client: Client;
let dataDir: string;

beforeAll(async () => {
  kiln = await startHarness({ noWorkers: true });
  dataDir = mkdtempSync(join(tmpdir(), 'kiln-schedule-'));
  config = loadConfig({
    KILN_TEMPORAL_ADDRESS: kiln.address,
    KILN_TEMPORAL_NAMESPACE: NAMESPACE,
    KILN_ORCHESTRATOR_TASK_QUEUE: `orchestrator-${randomUUID().slice(0, 8)}`,
    KILN_DATA_DIR: dataDir,
    KILN_RUNNER_ISOLATION: 'none',
    KILN_RETENTION_INTERVAL: '2h',
    KILN_ARTIFACT_GC_GRACE: '1s',
  });
  ports = await createPorts(config);
  workers = await startKilnWorkers(config, ports, ['orchestrator']);
  client = new Client({
    connection: await Connection.connect({ address: kiln.address }),
    namespace: NAMESPACE,
  });
}, 120_000);
afterAll(async () => {
  await client?.schedule
    .getHandle(RETENTION_SCHEDULE_ID)
    .delete()
    .catch(() => undefined);
  await workers?.stop();
  await ports?.close();
  await client?.connection.close();
  await kiln?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the kiln-retention schedule', () => {
  it('exists once the orchestrator workers started, with the configured settings', async () => {
    const schedule = await client.schedule.getHandle(RETENTION_SCHEDULE_ID).describe();
    expect(schedule.spec.intervals).toMatchObject([{ every: 2 * 3_600_000 }]);
    expect(schedule.policies.overlap).toBe(ScheduleOverlapPolicy.SKIP);
    expect(schedule.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'retentionWorkflow',
      taskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
      args: [{ logRetentionMs: 90 * 86_400_000, blobGraceMs: 1_000 }],
    });
  });

  it('is updated, not duplicated, by later starts, and stays paused when an operator paused it', async () => {
    const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    await handle.pause('paused by an operator');
    const changed = { ...config, KILN_RETENTION_INTERVAL: 3 * 3_600_000, KILN_LOG_RETENTION_DAYS: 0 };
    expect(await ensureRetentionSchedule(client, changed)).toBe('updated');
    expect(await ensureRetentionSchedule(client, changed)).toBe('updated');
    const schedule = await handle.describe();
    expect(schedule.spec.intervals).toMatchObject([{ every: 3 * 3_600_000 }]);
    expect(schedule.action).toMatchObject({ args: [{ logRetentionMs: null, blobGraceMs: 1_000 }] });
    expect(schedule.state).toMatchObject({ paused: true, note: 'paused by an operator' });
    const ids: string[] = [];
    for await (const summary of client.schedule.list()) ids.push(summary.scheduleId);
    expect(ids.filter((id) => id === RETENTION_SCHEDULE_ID)).toHaveLength(1);

    await handle.unpause();
    expect(await ensureRetentionSchedule(client, config)).toBe('updated');
    expect((await handle.describe()).spec.intervals).toMatchObject([{ every: 2 * 3_600_000 }]);
  });

  it('runs on trigger (what `temporal schedule trigger` does) and reports counts', async () => {
    const objects = ports.artifacts.objects;
    const orphan = blobKey('ab'.repeat(32));
    await objects.put(orphan, Buffer.from('nothing names this blob'));
    await new Promise((r) => setTimeout(r, 1_100));

    const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
    await handle.trigger();
    let workflowId: string | undefined;
    expect(
      await eventually(async () => {
        const recent = (await handle.describe()).info.recentActions;
        workflowId = recent.at(-1)?.action.workflow.workflowId;
        return workflowId !== undefined;
      }, 20_000),
    ).toBe(true);
    const result = (await client.workflow.getHandle(workflowId!).result()) as RetentionResult;
    expect(result.artifactBlobs).toEqual({ deleted: 1, bytes: Buffer.byteLength('nothing names this blob') });
    expect(result.bytesFreed).toBe(Buffer.byteLength('nothing names this blob'));
    expect(await objects.head(orphan)).toBeUndefined();
  }, 60_000);

  it('runs now with `kiln retention run`', async () => {
    const objects = ports.artifacts.objects;
    const orphan = blobKey('cd'.repeat(32));
    await objects.put(orphan, Buffer.from('another orphan'));
    await new Promise((r) => setTimeout(r, 1_100));
    const { stdout } = await execFileAsync(process.execPath, ['cli/kiln.ts', 'retention', 'run'], {
      env: {
        PATH: process.env.PATH,
        KILN_TEMPORAL_ADDRESS: kiln.address,
        KILN_TEMPORAL_NAMESPACE: NAMESPACE,
        KILN_ORCHESTRATOR_TASK_QUEUE: config.KILN_ORCHESTRATOR_TASK_QUEUE,
        KILN_ARTIFACT_GC_GRACE: '1s',
      },
    });
    expect(stdout).toMatch(/artifact blobs: +1 unreferenced deleted/);
    expect(await objects.head(orphan)).toBeUndefined();
  }, 60_000);
});
