import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { describe, it } from 'vitest';
import { createTestRepo } from '../helpers/git-repo.ts';
import { startHarness } from '../helpers/kiln-harness.ts';

/**
 * Records the histories `workflow-replay.test.ts` replays, from real builds. Not part of the test
 * suite (its own config): run it after an intended, versioned workflow change with
 * `npx vitest run --config vitest.record.config.ts`.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const DIR = join(import.meta.dirname, '..', 'fixtures', 'histories');

describe('workflow histories', () => {
  it('records histories of representative builds', async () => {
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
  }, 120_000);
});
