import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePipeline, formatProblem, type PipelineContext } from '../../../shared/pipeline/index.ts';

/**
 * The fixture corpus: each `valid/<name>.yaml` compiles to `<name>.expected.json`, and each
 * `invalid/<name>.yaml` yields exactly the problems listed in `<name>.expected.txt`.
 */

const root = join(import.meta.dirname, '../../fixtures/pipelines');
const context: PipelineContext = { branch: 'main', event: 'push' };

function fixtures(kind: 'valid' | 'invalid'): string[] {
  return readdirSync(join(root, kind))
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => name.slice(0, -'.yaml'.length))
    .sort();
}

function compileFixture(kind: 'valid' | 'invalid', name: string) {
  return compilePipeline(readFileSync(join(root, kind, `${name}.yaml`), 'utf8'), '.ci.yaml', context);
}

describe('valid pipelines', () => {
  it('has fixtures, each with its expected DAG', () => {
    expect(fixtures('valid').length).toBeGreaterThanOrEqual(5);
    for (const name of fixtures('valid'))
      expect(existsSync(join(root, 'valid', `${name}.expected.json`))).toBe(true);
  });

  it.each(fixtures('valid'))('%s compiles to the expected DAG', (name) => {
    const result = compileFixture('valid', name);
    if (!result.ok) expect.fail(result.problems.map(formatProblem).join('\n'));
    const expected: unknown = JSON.parse(readFileSync(join(root, 'valid', `${name}.expected.json`), 'utf8'));
    expect(result.dag).toEqual(expected);
  });

  it.each(fixtures('valid'))('%s lists every job after all of its needs, with unique keys', (name) => {
    const result = compileFixture('valid', name);
    if (!result.ok) return expect.fail('did not compile');
    const seen = new Set<string>();
    for (const job of result.dag.jobs) {
      for (const need of job.needs) expect(seen, `${job.key} needs ${need}`).toContain(need);
      expect(seen).not.toContain(job.key);
      seen.add(job.key);
    }
  });
});

describe('invalid pipelines', () => {
  it('has fixtures, each with its expected problems', () => {
    expect(fixtures('invalid').length).toBeGreaterThanOrEqual(15);
    for (const name of fixtures('invalid')) {
      expect(existsSync(join(root, 'invalid', `${name}.expected.txt`)), name).toBe(true);
    }
  });

  it.each(fixtures('invalid'))('%s reports exactly the expected problems', (name) => {
    const result = compileFixture('invalid', name);
    const expected = readFileSync(join(root, 'invalid', `${name}.expected.txt`), 'utf8')
      .trimEnd()
      .split('\n');
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.problems.map(formatProblem)).toEqual(expected);
  });

  it('lists problems in file order', () => {
    for (const name of fixtures('invalid')) {
      const result = compileFixture('invalid', name);
      const positions = result.ok ? [] : result.problems.map((p) => p.line * 10_000 + p.col);
      expect(positions, name).toEqual([...positions].sort((a, b) => a - b));
    }
  });

  it('covers every kind of problem', () => {
    const all = fixtures('invalid')
      .map((name) => readFileSync(join(root, 'invalid', `${name}.expected.txt`), 'utf8'))
      .join('');
    for (const kind of [
      'invalid YAML',
      'duplicate key',
      'file is empty',
      'the pipeline must be a map',
      'no jobs',
      'unknown key',
      '(did you mean',
      'must be text, not',
      'must be a list of steps',
      'has no steps',
      'has no "run"',
      'invalid job id',
      'invalid env name',
      'needs unknown job',
      'needs itself',
      'cycle in needs',
      'invalid timeout',
      'invalid retries',
      'at most 256 are allowed',
      'is empty: list at least one value',
      'duplicate value',
      'duplicate job name',
      'duplicate job key',
      'invalid "if"',
      'unknown matrix variable',
      'unsupported expression',
    ]) {
      expect(all, kind).toContain(kind);
    }
  });
});
