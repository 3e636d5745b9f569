import { describe, expect, it } from 'vitest';
import { parseExpireIn } from '../../shared/pipeline/artifacts.ts';
import { compilePipeline, formatProblem, type CompiledJob } from '../../shared/pipeline/index.ts';

const push = { branch: 'main', event: 'push' };
const yaml = (...lines: string[]) => lines.join('\n') + '\n';

function compile(source: string): CompiledJob[] {
  const result = compilePipeline(source, '.ci.yaml', push);
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.dag.jobs;
}

function problems(source: string): string[] {
  const result = compilePipeline(source, '.ci.yaml', push);
  if (result.ok) throw new Error('expected problems, but the pipeline compiled');
  return result.problems.map(formatProblem);
}

describe('artifacts: in a pipeline', () => {
  it('reads a list of globs with the GitLab defaults', () => {
    const [job] = compile(yaml('jobs:', '  build:', '    steps: [make]', '    artifacts: [dist/, "*.log"]'));
    expect(job!.artifacts).toEqual({ paths: ['dist/', '*.log'], when: 'on_success' });
  });

  it('reads the map form, with expire_in and when', () => {
    const jobs = compile(
      yaml(
        'jobs:',
        '  a:',
        '    steps: [make]',
        '    artifacts:',
        '      paths: [out/**/*.xml]',
        '      expire_in: 7 days',
        '      when: always',
        '  b:',
        '    steps: [make]',
        '    artifacts: { paths: [report.txt], expire_in: never, when: on_failure }',
        '  c:',
        '    steps: [make]',
        '    artifacts: { paths: [x], expire_in: 3h }',
      ),
    );
    const byKey = Object.fromEntries(jobs.map((j) => [j.key, j.artifacts]));
    expect(byKey.a).toEqual({ paths: ['out/**/*.xml'], when: 'always', expireInMs: 7 * 86_400_000 });
    expect(byKey.b).toEqual({ paths: ['report.txt'], when: 'on_failure', expireInMs: null });
    expect(byKey.c).toEqual({ paths: ['x'], when: 'on_success', expireInMs: 3 * 3_600_000 });
  });

  it('leaves jobs without artifacts unchanged and substitutes matrix values in paths', () => {
    const jobs = compile(
      yaml(
        'jobs:',
        '  plain: { steps: [make] }',
        '  test:',
        '    matrix: { os: [linux, mac] }',
        '    steps: [make]',
        '    artifacts: ["report-${{ matrix.os }}.xml"]',
      ),
    );
    expect(jobs.find((j) => j.key === 'plain')).not.toHaveProperty('artifacts');
    expect(jobs.filter((j) => j.artifacts).map((j) => j.artifacts!.paths[0])).toEqual([
      'report-linux.xml',
      'report-mac.xml',
    ]);
  });

  it('rejects absolute paths and ".." segments with located errors', () => {
    expect(
      problems(
        yaml(
          'jobs:',
          '  build:',
          '    steps: [make]',
          '    artifacts:',
          '      - /etc/passwd',
          '      - dist/../../secret',
          '      - ..',
          '      - ok/file',
        ),
      ),
    ).toEqual([
      '.ci.yaml:5:9 invalid artifact path "/etc/passwd" in job "build": absolute paths are not allowed: give a path relative to the workspace',
      '.ci.yaml:6:9 invalid artifact path "dist/../../secret" in job "build": ".." would leave the workspace',
      '.ci.yaml:7:9 invalid artifact path ".." in job "build": ".." would leave the workspace',
    ]);
  });

  it('suggests the right key, and names bad values of when, expire_in and paths', () => {
    expect(
      problems(
        yaml(
          'jobs:',
          '  build:',
          '    steps: [make]',
          '    artifact: [dist]',
          '  test:',
          '    steps: [make]',
          '    artifacts:',
          '      path: [dist]',
          '      when: sometimes',
          '      expire_in: 90',
          '  lint:',
          '    steps: [make]',
          '    artifacts: dist',
          '  docs:',
          '    steps: [make]',
          '    artifacts: { paths: [] }',
        ),
      ),
    ).toEqual([
      '.ci.yaml:4:5 unknown key "artifact" in job "build" (did you mean "artifacts"?)',
      '.ci.yaml:8:7 unknown key "path" in "artifacts" of job "test" (did you mean "paths"?)',
      '.ci.yaml:8:7 "artifacts" in job "test" has no "paths": list the files to keep',
      '.ci.yaml:9:13 "when" in "artifacts" of job "test" must be one of on_success, on_failure, always, not "sometimes"',
      '.ci.yaml:10:18 invalid "expire_in" "90" in job "test": use a duration such as 3h, 7 days or 2 weeks, or "never"',
      '.ci.yaml:13:16 "artifacts" in job "lint" must be a list of paths or a map with "paths", not text',
      '.ci.yaml:16:25 "artifacts" in job "docs" lists no paths: give at least one',
    ]);
  });
});

describe('parseExpireIn', () => {
  it.each([
    ['3h', 3 * 3_600_000],
    ['7 days', 7 * 86_400_000],
    ['1 week 2 days', 9 * 86_400_000],
    ['1h30m', 90 * 60_000],
    ['30 mins', 30 * 60_000],
    ['2 hrs', 2 * 3_600_000],
    ['never', null],
    ['Never', null],
  ])('%s', (text, ms) => expect(parseExpireIn(text)).toBe(ms));

  it.each(['', '90', 'soon', '0h', '3 fortnights', '-1d', '__proto__ 1'])('rejects %j', (text) =>
    expect(parseExpireIn(text)).toBeUndefined(),
  );
});
