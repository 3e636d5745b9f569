import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

/**
 * Guards workflow determinism: histories recorded from real builds must replay with the current
 * workflow code. A change that would break running builds fails here. After an intended,
 * versioned change, record again with `npx vitest run --config vitest.record.config.ts`.
 */
const DIR = join(import.meta.dirname, '..', 'fixtures', 'histories');

describe('workflow replay', () => {
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
