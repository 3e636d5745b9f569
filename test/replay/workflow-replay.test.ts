import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';
import { createTestRepo } from '../helpers/git-repo.ts';
import { startHarness } from '../helpers/kiln-harness.ts';

/**
 * Guards workflow determinism: histories recorded from real builds must replay with the current
 * workflow code. A change that would break running builds fails here. After an intended,
 * versioned change, record again with `RECORD_HISTORIES=1 npx vitest run test/replay`.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(import.meta.dirname, '..', 'fixtures', 'histories');

describe('workflow replay', () => {
  it.runIf(process.env.RECORD_HISTORIES === '1')(
    'records histories of representative builds',
    async () => {
      const kiln = await startHarness();
      try {
        const scenarios: Record<string, string> = {
          diamond: `jobs:\n  a: { steps: [{ run: 'true' }] }\n  b: { needs: a, steps: [{ run: 'true' }] }\n  c: { needs: a, steps: [{ run: 'true' }] }\n  d: { needs: [b, c], steps: [{ run: 'true' }] }\n`,
          failing: `jobs:\n  a: { steps: [{ run: 'exit 2' }] }\n  b: { needs: a, steps: [{ run: 'true' }] }\n`,
          invalid: `jobs:\n  a: { stepz: [] }\n`,
          cancelled: `jobs:\n  a: { steps: [{ run: 'sleep 60' }] }\n`,
        };
        for (const [name, pipeline] of Object.entries(scenarios)) {
          const repo = createTestRepo({ '.ci.yaml': pipeline });
          const id = await kiln.startBuild({ cloneUrl: repo.url });
          if (name === 'cancelled') {
            await kiln.waitFor(id, (b) => b.jobs[0]?.status === 'running');
            await kiln.api(`/builds/${id}/cancel`, { method: 'POST' });
          }
          const build = await kiln.waitFor(id);
          const ids = [id, ...build.jobs.filter((j) => j.attempt > 0).map((j) => `${id}/${j.key}`)];
          for (const [i, workflowId] of ids.entries()) {
            const history = await kiln.client.workflow.getHandle(workflowId).fetchHistory();
            writeFileSync(
              join(DIR, `${name}-${i === 0 ? 'build' : `job-${i}`}.json`),
              // Stack traces name this checkout's location; keep fixtures free of it.
              historyToJSON(history).replaceAll(`${ROOT}/`, '/kiln/'),
            );
          }
        }
      } finally {
        await kiln.stop();
      }
    },
    120_000,
  );

  it('replays every recorded history with the current workflow code', async () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    const histories = files.map((file) => ({
      workflowId: file,
      history: JSON.parse(readFileSync(join(DIR, file), 'utf8')) as unknown,
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: { codePath: inject('workflowBundlePath') }, replayName: 'kiln-replay' },
      histories,
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
