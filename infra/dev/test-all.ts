/**
 * The test command (`npm test`): the system packages the real servers come from, formatting,
 * lint, types, then every vitest suite against the real servers the tests start. Ends with one plain line `N passed, N failed` and a
 * non-zero exit when anything failed. Static checks count as one test each.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';

const bin = (name: string): string => `node_modules/.bin/${name}`;
let passed = 0;
let failed = 0;

function check(name: string, command: string, args: string[]): void {
  const started = Date.now();
  console.log(`\n▶ ${name}: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { stdio: 'inherit' });
  const ok = result.status === 0;
  console.log(`${ok ? '✔' : '✘'} ${name} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  if (ok) passed++;
  else failed++;
}

check('system packages', 'bash', ['infra/dev/ensure-system-packages.sh']);
check('format', bin('prettier'), ['--check', '.']);
check('lint', bin('eslint'), ['.']);
check('typecheck', bin('tsc'), ['--noEmit']);

mkdirSync('.kiln', { recursive: true });
const report = '.kiln/vitest-report.json';
rmSync(report, { force: true });
console.log('\n▶ tests: vitest run');
const vitest = spawnSync(
  bin('vitest'),
  ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
  {
    stdio: 'inherit',
  },
);
if (existsSync(report)) {
  const counts = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number;
    numFailedTests: number;
    numTotalTestSuites: number;
    numFailedTestSuites: number;
  };
  passed += counts.numPassedTests;
  failed += counts.numFailedTests;
  // A suite that failed to load (syntax error, setup failure) has no failed test: count it.
  if (counts.numFailedTests === 0 && vitest.status !== 0) failed++;
} else {
  console.error('vitest wrote no report (did the global setup fail?)');
  failed++;
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
