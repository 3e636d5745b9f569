import { describe, expect, it } from 'vitest';
import {
  compilePipeline,
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_MS,
  formatProblem,
  missingPipelineProblem,
  type CompiledJob,
  type PipelineContext,
} from '../../../shared/pipeline/index.ts';

const push: PipelineContext = { branch: 'main', event: 'push' };

function compile(source: string, context: PipelineContext = push): CompiledJob[] {
  const result = compilePipeline(source, '.ci.yaml', context);
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.dag.jobs;
}

function problems(source: string, file = '.ci.yaml'): string[] {
  const result = compilePipeline(source, file, push);
  if (result.ok) throw new Error('expected problems, but the pipeline compiled');
  return result.problems.map(formatProblem);
}

/** Joins lines, so that line numbers in expectations are easy to count. */
const yaml = (...lines: string[]) => lines.join('\n') + '\n';

describe('compilePipeline', () => {
  it('applies the built-in defaults: 60m timeout, 2 retries, no image', () => {
    const [job] = compile(yaml('jobs:', '  build:', '    steps: [make]'));
    expect(DEFAULT_TIMEOUT_MS).toBe(3_600_000);
    expect(DEFAULT_RETRIES).toBe(2);
    expect(job).toEqual({
      key: 'build',
      name: 'build',
      needs: [],
      steps: [{ name: 'make', run: 'make', env: {} }],
      env: {},
      timeoutMs: 3_600_000,
      retries: 2,
      enabled: true,
      resourceClass: 'small',
      labels: [],
      secrets: [],
    });
  });

  it('reads where a job runs and which secrets it gets', () => {
    const [job] = compile(
      yaml(
        'jobs:',
        '  deploy:',
        '    resources: large',
        '    runs-on: [linux, gpu]',
        '    priority: high',
        '    secrets: [DEPLOY_TOKEN, NPM_TOKEN]',
        '    steps: [make]',
      ),
    );
    expect(job).toMatchObject({
      resourceClass: 'large',
      labels: ['linux', 'gpu'],
      priority: 'high',
      secrets: ['DEPLOY_TOKEN', 'NPM_TOKEN'],
    });
  });

  it('rejects malformed placement and secret fields with positions', () => {
    const result = compilePipeline(
      yaml(
        'jobs:',
        '  deploy:',
        '    resources: [big]',
        '    priority: urgent',
        '    secrets: [deploy-token, X, X]',
        '    steps: [make]',
      ),
      '.ci.yaml',
      { event: 'push' },
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.map(formatProblem)).toEqual([
      '.ci.yaml:3:16 "resources" in job "deploy" must be a resource class such as small, medium or large, not a list',
      '.ci.yaml:4:15 "priority" in job "deploy" must be one of high, normal, low, not "urgent"',
      '.ci.yaml:5:15 secret names in job "deploy" must look like environment variables (A-Z, 0-9, _), not "deploy-token"',
      '.ci.yaml:5:32 secret "X" is listed twice in job "deploy"',
    ]);
  });

  it('applies pipeline defaults unless the job sets its own', () => {
    const jobs = compile(
      yaml(
        'defaults: { timeout: 20m, retries: 0, image: node:24 }',
        'jobs:',
        '  a: { steps: [x] }',
        '  b: { steps: [x], timeout: 90s, retries: 5, image: alpine }',
      ),
    );
    expect(jobs.map((j) => [j.timeoutMs, j.retries, j.image])).toEqual([
      [1_200_000, 0, 'node:24'],
      [90_000, 5, 'alpine'],
    ]);
  });

  it('merges pipeline env under job env and keeps step env on the step', () => {
    const [job] = compile(
      yaml(
        'env: { A: top, B: top, N: 1, T: true }',
        'jobs:',
        '  build:',
        '    env: { B: job, C: job }',
        '    steps:',
        '      - run: make',
        '        env: { C: step }',
      ),
    );
    expect(job!.env).toEqual({ A: 'top', B: 'job', C: 'job', N: '1', T: 'true' });
    expect(job!.steps[0]!.env).toEqual({ C: 'step' });
  });

  it('keeps an env variable named __proto__ as plain data', () => {
    const [job] = compile(yaml('jobs:', '  a:', '    env: { __proto__: x }', '    steps: [make]'));
    expect(Object.keys(job!.env)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(job!.env)).toBe(Object.prototype);
  });

  it('names an unnamed step after the first line of its command, ignoring blank lines', () => {
    const [job] = compile(
      yaml('jobs:', '  a:', '    steps:', '      - run: |', '', '          npm ci', '          npm test'),
    );
    expect(job!.steps[0]).toMatchObject({ name: 'npm ci', run: '\nnpm ci\nnpm test\n' });
  });

  it('accepts needs as a string or a list, dropping repeats', () => {
    const jobs = compile(
      yaml(
        'jobs:',
        '  a: { steps: [x] }',
        '  b: { needs: a, steps: [x] }',
        '  c: { needs: [a, b, a], steps: [x] }',
      ),
    );
    expect(jobs.map((j) => j.needs)).toEqual([[], ['a'], ['a', 'b']]);
  });

  it('keeps a disabled job and its dependents in the DAG', () => {
    const source = yaml(
      'jobs:',
      '  build: { steps: [make] }',
      "  deploy: { needs: build, if: \"branch == 'main' && event == 'push'\", steps: [./deploy.sh] }",
      '  smoke: { needs: deploy, steps: [./smoke.sh] }',
    );
    expect(compile(source).map((j) => [j.key, j.enabled])).toEqual([
      ['build', true],
      ['deploy', true],
      ['smoke', true],
    ]);
    const onBranch = compile(source, { branch: 'feature/x', event: 'push' });
    expect(onBranch.map((j) => [j.key, j.enabled, j.needs])).toEqual([
      ['build', true, []],
      ['deploy', false, ['build']],
      ['smoke', true, ['deploy']],
    ]);
    expect(onBranch[1]!.condition).toBe("branch == 'main' && event == 'push'");
  });

  it('evaluates conditions on tags and events', () => {
    const source = yaml('jobs:', '  release: { if: "startsWith(tag, \'v\')", steps: [x] }');
    expect(compile(source, { tag: 'v1.2.0', event: 'push' })[0]!.enabled).toBe(true);
    expect(compile(source, { branch: 'main', event: 'push' })[0]!.enabled).toBe(false);
  });

  it('resolves YAML anchors and aliases', () => {
    const jobs = compile(
      yaml('jobs:', '  a:', '    steps: &steps [npm ci, npm test]', '  b:', '    steps: *steps'),
    );
    expect(jobs[1]!.steps.map((s) => s.run)).toEqual(['npm ci', 'npm test']);
  });

  it('returns plain data that survives serialization, and the same data every time', () => {
    const source = yaml(
      'jobs:',
      '  t:',
      '    matrix: { n: [1, 2] }',
      '    steps: [echo]',
      '  d: { needs: t, steps: [x] }',
    );
    const first = compilePipeline(source, 'ci/pipeline.yaml', push);
    expect(first.ok && first.dag.file).toBe('ci/pipeline.yaml');
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
    expect(compilePipeline(source, 'ci/pipeline.yaml', push)).toEqual(first);
  });
});

describe('problems', () => {
  it('uses the file name given and 1-based positions', () => {
    expect(problems('jobs:\n  build:\n    neds: x\n    steps: [x]\n', 'pipelines/ci.yaml')).toEqual([
      'pipelines/ci.yaml:3:5 unknown key "neds" in job "build" (did you mean "needs"?)',
    ]);
  });

  it.each(['', '\n\n', '# only a comment\n', '---\n'])('reports an empty file: %j', (source) => {
    expect(problems(source)).toEqual(['.ci.yaml:1:1 file is empty: define at least one job under "jobs"']);
  });

  it('points an unclosed quote at where it opens', () => {
    expect(problems(yaml('jobs:', '  build:', "    steps: ['npm ci]", '  test:', '    steps: [x]'))).toEqual([
      '.ci.yaml:3:13 invalid YAML: this quoted string is never closed',
    ]);
  });

  it('reports a YAML syntax error once per line and nothing from the broken tree', () => {
    expect(
      problems(yaml('jobs:', '  build:', '    steps:', '      - run: npm ci', '     - run: npm test')),
    ).toEqual(['.ci.yaml:5:1 invalid YAML: a block sequence may not be used as an implicit map key']);
  });

  it('reports tabs used for indentation', () => {
    const [problem] = problems('jobs:\n\tbuild:\n\t\tsteps: [x]\n');
    expect(problem).toMatch(/^\.ci\.yaml:2:1 invalid YAML: /);
  });

  it('collects every problem of every stage, sorted by position', () => {
    const source = yaml(
      'jobs:',
      '  a:',
      '    needs: [c, b]', // 3: cycle a → c → a (and b is fine)
      '    timeout: soon', // 4
      '    steps: [x]',
      '  b:',
      '    retries: 99', // 7
      '    steps:',
      '      - name: no run', // 9
      '  c:',
      '    needs: [a, ghost]', // 11
      "    if: tag = 'v1'", // 12
      '    steps: [x]',
    );
    expect(problems(source)).toEqual([
      '.ci.yaml:3:13 cycle in needs: a → c → a',
      '.ci.yaml:4:14 invalid timeout "soon": use a number with ms, s, m or h, such as 90s, 20m or 1h',
      '.ci.yaml:7:14 invalid retries "99": use a whole number from 0 to 10',
      '.ci.yaml:9:9 step 1 of job "b" has no "run": give it the command to run',
      '.ci.yaml:11:16 job "c" needs unknown job "ghost"',
      '.ci.yaml:12:13 invalid "if" in job "c": unexpected character "=" (use "==")',
    ]);
  });

  it('reports the messages people will search for, word for word', () => {
    const source = yaml(
      'jobs:',
      '  a: { needs: c, steps: [x] }',
      '  b: { needs: a, steps: [x] }',
      '  c: { needs: b, steps: [x] }',
      '  test: { neds: a, steps: [x] }',
      '  slow: { timeout: 5 minutes, steps: [x] }',
    );
    expect(problems(source)).toEqual([
      '.ci.yaml:2:15 cycle in needs: a → c → b → a',
      '.ci.yaml:5:11 unknown key "neds" in job "test" (did you mean "needs"?)',
      '.ci.yaml:6:20 invalid timeout "5 minutes": use a number with ms, s, m or h, such as 90s, 20m or 1h',
    ]);
  });

  it('points inside a quoted if expression, and at the value when it cannot be exact', () => {
    expect(problems(yaml('jobs:', '  a:', '    if: "branch == \'x\' && nope"', '    steps: [x]'))).toEqual([
      '.ci.yaml:3:27 invalid "if" in job "a": unknown identifier "nope" (use branch, tag, event)',
    ]);
    // A block scalar spans lines, so only its start is known.
    expect(problems(yaml('jobs:', '  a:', '    if: >-', '      nope', '    steps: [x]'))).toEqual([
      '.ci.yaml:3:9 invalid "if" in job "a": unknown identifier "nope" (use branch, tag, event)',
    ]);
  });

  it('does not report cycles through a self-need twice', () => {
    expect(problems(yaml('jobs:', '  a: { needs: [a], steps: [x] }'))).toEqual([
      '.ci.yaml:2:16 job "a" needs itself',
    ]);
  });

  it('detects duplicate names between a matrix job and another job', () => {
    const source = yaml(
      'jobs:',
      '  test: { matrix: { n: [1] }, steps: [x] }',
      '  other: { name: test (n=1), steps: [x] }',
    );
    expect(problems(source)).toEqual([
      '.ci.yaml:3:18 duplicate job name "test (n=1)": job "test" has it too',
    ]);
  });
});

describe('formatProblem and missingPipelineProblem', () => {
  it('formats as file:line:col message', () => {
    expect(formatProblem({ file: '.ci.yaml', line: 3, col: 7, message: 'boom' })).toBe('.ci.yaml:3:7 boom');
  });

  it('reports a missing pipeline file at 1:1 with a short commit id', () => {
    expect(missingPipelineProblem('.ci.yaml', 'abc1234')).toEqual({
      file: '.ci.yaml',
      line: 1,
      col: 1,
      message: 'no pipeline file ".ci.yaml" at commit abc1234',
    });
    const full = '0123456789abcdef0123456789abcdef01234567';
    expect(formatProblem(missingPipelineProblem('ci/build.yaml', full))).toBe(
      'ci/build.yaml:1:1 no pipeline file "ci/build.yaml" at commit 0123456',
    );
  });
});
