import { describe, expect, it } from 'vitest';
import type { JobState } from '../../shared/build-state.ts';
import type { CompiledJob } from '../../shared/pipeline/types.ts';
import { finalBuildStatus, planNext } from '../../shared/schedule.ts';

const job = (key: string, needs: string[] = [], enabled = true): CompiledJob => ({
  key,
  name: key,
  needs,
  steps: [{ name: 'x', run: 'true', env: {} }],
  env: {},
  timeoutMs: 60_000,
  retries: 2,
  enabled,
  resourceClass: 'small',
  labels: [],
  secrets: [],
  ...(enabled ? {} : { condition: "branch == 'main'" }),
});
const states = (jobs: CompiledJob[], status: Record<string, JobState['status']> = {}): JobState[] =>
  jobs.map((j) => ({
    key: j.key,
    name: j.name,
    needs: j.needs,
    status: status[j.key] ?? 'pending',
    attempt: 0,
  }));

describe('planNext', () => {
  const diamond = [job('a'), job('b', ['a']), job('c', ['a']), job('d', ['b', 'c'])];

  it('starts only jobs whose needs all succeeded', () => {
    expect(planNext(diamond, states(diamond), 10)).toEqual({ start: ['a'], skip: [] });
    expect(planNext(diamond, states(diamond, { a: 'succeeded' }), 10).start).toEqual(['b', 'c']);
    expect(
      planNext(diamond, states(diamond, { a: 'succeeded', b: 'succeeded', c: 'running' }), 10).start,
    ).toEqual([]);
    expect(
      planNext(diamond, states(diamond, { a: 'succeeded', b: 'succeeded', c: 'succeeded' }), 10).start,
    ).toEqual(['d']);
  });

  it('skips every transitive dependent of a failed, errored or timed-out job', () => {
    for (const bad of ['failed', 'errored', 'timed_out', 'cancelled'] as const) {
      const plan = planNext(diamond, states(diamond, { a: 'succeeded', b: bad }), 10);
      expect(plan.skip).toEqual([{ key: 'd', reason: `needs "b", which ended ${bad}` }]);
      expect(plan.start).toEqual(['c']);
    }
    const chain = [job('a'), job('b', ['a']), job('c', ['b'])];
    expect(planNext(chain, states(chain, { a: 'failed' }), 10).skip.map((s) => s.key)).toEqual(['b', 'c']);
  });

  it('skips a job whose condition is false, and its dependents', () => {
    const jobs = [job('build'), job('deploy', ['build'], false), job('notify', ['deploy'])];
    const plan = planNext(jobs, states(jobs), 10);
    expect(plan.start).toEqual(['build']);
    expect(plan.skip).toEqual([
      { key: 'deploy', reason: "condition is false: branch == 'main'" },
      { key: 'notify', reason: 'needs "deploy", which ended skipped' },
    ]);
  });

  it('bounds the jobs in flight', () => {
    const wide = Array.from({ length: 10 }, (_, i) => job(`j${i}`));
    expect(planNext(wide, states(wide), 3).start).toEqual(['j0', 'j1', 'j2']);
    expect(planNext(wide, states(wide, { j0: 'running', j1: 'queued' }), 3).start).toEqual(['j2']);
    expect(planNext(wide, states(wide, { j0: 'running', j1: 'running', j2: 'running' }), 3).start).toEqual(
      [],
    );
  });
});

describe('finalBuildStatus', () => {
  const s = (...statuses: JobState['status'][]) =>
    statuses.map((status, i) => ({ key: `j${i}`, name: `j${i}`, needs: [], status, attempt: 1 }));
  it('orders cancelled > errored > failed > succeeded', () => {
    expect(finalBuildStatus(s('succeeded', 'skipped'), false)).toBe('succeeded');
    expect(finalBuildStatus(s('succeeded', 'failed'), false)).toBe('failed');
    expect(finalBuildStatus(s('timed_out'), false)).toBe('failed');
    expect(finalBuildStatus(s('failed', 'errored'), false)).toBe('errored');
    expect(finalBuildStatus(s('failed', 'errored'), true)).toBe('cancelled');
  });
});
