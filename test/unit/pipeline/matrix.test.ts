import { describe, expect, it } from 'vitest';
import {
  combinationCount,
  combinations,
  findReferences,
  jobKey,
  matrixJobName,
  substituteMatrix,
} from '../../../shared/pipeline/matrix.ts';
import { compilePipeline, formatProblem, type CompiledJob } from '../../../shared/pipeline/index.ts';

function compile(source: string): CompiledJob[] {
  const result = compilePipeline(source, '.ci.yaml', { branch: 'main', event: 'push' });
  if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
  return result.dag.jobs;
}

function problems(source: string): string[] {
  const result = compilePipeline(source, '.ci.yaml', { event: 'push' });
  return result.ok ? [] : result.problems.map(formatProblem);
}

describe('combinations', () => {
  it('is the cartesian product in key order, the first key varying slowest', () => {
    const variables = [
      { name: 'node', values: ['20', '22'] },
      { name: 'os', values: ['linux', 'mac'] },
    ];
    expect(combinations(variables)).toEqual([
      { node: '20', os: 'linux' },
      { node: '20', os: 'mac' },
      { node: '22', os: 'linux' },
      { node: '22', os: 'mac' },
    ]);
    expect(combinationCount(variables)).toBe(4);
  });

  it('handles a single variable and three variables', () => {
    expect(combinations([{ name: 'a', values: ['1'] }])).toEqual([{ a: '1' }]);
    const three = [
      { name: 'a', values: ['1', '2'] },
      { name: 'b', values: ['x', 'y', 'z'] },
      { name: 'c', values: ['p', 'q'] },
    ];
    expect(combinations(three)).toHaveLength(12);
    expect(combinations(three)[7]).toEqual({ a: '2', b: 'x', c: 'q' });
  });
});

describe('naming', () => {
  it('derives keys that are safe in URLs and file names', () => {
    expect(jobKey('test', { node: '20', os: 'linux' })).toBe('test-node-20-os-linux');
    expect(jobKey('Build')).toBe('build');
    expect(jobKey('test', { os: 'Ubuntu 24.04', arch: 'arm/64' })).toBe('test-os-ubuntu-24.04-arch-arm-64');
    expect(jobKey('test', { v: 'a  &  b' })).toBe('test-v-a-b');
    expect(jobKey('test', { v: 'x!' })).toBe('test-v-x');
    expect(jobKey('e2e_run', { shard: '1' })).toBe('e2e_run-shard-1');
  });

  it('shows the combination in the display name', () => {
    expect(matrixJobName('test', { node: '20', os: 'linux' })).toBe('test (node=20, os=linux)');
  });
});

describe('references', () => {
  it('finds matrix references, whitespace-tolerant, and other expressions', () => {
    expect(findReferences('a ${{ matrix.node }} b ${{matrix.os}} ${{ github.sha }}')).toEqual([
      { index: 2, raw: '${{ matrix.node }}', variable: 'node' },
      { index: 23, raw: '${{matrix.os}}', variable: 'os' },
      { index: 38, raw: '${{ github.sha }}' },
    ]);
    expect(findReferences('echo $HOME ${PATH} {{ x }}')).toEqual([]);
  });

  it('substitutes known variables and leaves everything else as written', () => {
    const combination = { node: '20', os: 'linux' };
    expect(substituteMatrix('node:${{ matrix.node }}-${{  matrix.os  }}', combination)).toBe('node:20-linux');
    expect(substituteMatrix('${{ matrix.other }} ${{ github.sha }}', combination)).toBe(
      '${{ matrix.other }} ${{ github.sha }}',
    );
    expect(substituteMatrix('${{ matrix.toString }}', combination)).toBe('${{ matrix.toString }}');
  });

  it('does not substitute recursively', () => {
    expect(substituteMatrix('${{ matrix.a }}', { a: '${{ matrix.b }}', b: 'no' })).toBe('${{ matrix.b }}');
  });
});

describe('matrix jobs in a pipeline', () => {
  const source = `
env: { SHARED: yes }
defaults: { image: 'node:\${{ matrix.node }}' }
jobs:
  build:
    image: node:24
    steps: [make]
  test:
    needs: build
    matrix: { node: [20, 22], os: [linux, mac] }
    env: { NODE: '\${{ matrix.node }}' }
    steps:
      - name: 'node \${{ matrix.node }}'
        run: 'echo \${{ matrix.node }} on \${{ matrix.os }}'
        env: { OS: '\${{ matrix.os }}' }
  deploy:
    needs: [test]
    image: alpine
    steps: [./deploy.sh]
`;

  it('expands one job per combination with substituted text', () => {
    const jobs = compile(source);
    expect(jobs.map((job) => job.key)).toEqual([
      'build',
      'test-node-20-os-linux',
      'test-node-20-os-mac',
      'test-node-22-os-linux',
      'test-node-22-os-mac',
      'deploy',
    ]);
    const macOn22 = jobs.find((job) => job.key === 'test-node-22-os-mac')!;
    expect(macOn22).toMatchObject({
      name: 'test (node=22, os=mac)',
      needs: ['build'],
      image: 'node:22',
      env: { SHARED: 'yes', NODE: '22' },
      matrix: { node: '22', os: 'mac' },
      steps: [{ name: 'node 22', run: 'echo 22 on mac', env: { OS: 'mac' } }],
    });
  });

  it('makes a need on a matrix job wait for every expansion', () => {
    const deploy = compile(source).find((job) => job.key === 'deploy')!;
    expect(deploy.needs).toEqual([
      'test-node-20-os-linux',
      'test-node-20-os-mac',
      'test-node-22-os-linux',
      'test-node-22-os-mac',
    ]);
    expect(deploy.matrix).toBeUndefined();
  });

  it('keeps a name that places the matrix values itself', () => {
    const jobs = compile(`
jobs:
  e2e:
    name: 'e2e on \${{ matrix.browser }}'
    matrix: { browser: [chrome, firefox] }
    steps: [npx playwright test]
`);
    expect(jobs.map((job) => [job.key, job.name])).toEqual([
      ['e2e-browser-chrome', 'e2e on chrome'],
      ['e2e-browser-firefox', 'e2e on firefox'],
    ]);
  });

  it('appends the combination to a fixed display name', () => {
    const jobs = compile(`
jobs:
  test:
    name: Unit tests
    matrix: { node: [24] }
    steps: [npm test]
`);
    expect(jobs[0]).toMatchObject({ key: 'test-node-24', name: 'Unit tests (node=24)' });
  });

  it('stringifies numbers and booleans as written', () => {
    const jobs = compile(`
jobs:
  test:
    matrix: { version: [1.10, 2], debug: [true] }
    steps: ['echo \${{ matrix.version }} \${{ matrix.debug }}']
`);
    expect(jobs.map((job) => job.steps[0]!.run)).toEqual(['echo 1.10 true', 'echo 2 true']);
  });

  it('allows exactly 256 combinations but not 257', () => {
    const values = (n: number) => `[${Array.from({ length: n }, (_, i) => i).join(', ')}]`;
    expect(
      compile(`jobs:\n  t:\n    matrix: { a: ${values(16)}, b: ${values(16)} }\n    steps: [x]\n`),
    ).toHaveLength(256);
    expect(problems(`jobs:\n  t:\n    matrix: { a: ${values(257)} }\n    steps: [x]\n`)).toEqual([
      '.ci.yaml:3:13 matrix of job "t" makes 257 jobs: at most 256 are allowed',
    ]);
  });

  it('reports an empty matrix list and duplicate values', () => {
    expect(problems('jobs:\n  t:\n    matrix: { node: [], os: [a, b, a] }\n    steps: [x]\n')).toEqual([
      '.ci.yaml:3:21 matrix "node" of job "t" is empty: list at least one value',
      '.ci.yaml:3:36 duplicate value "a" in matrix "os" of job "t": each combination must be a different job',
    ]);
  });
});
