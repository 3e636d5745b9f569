/** Worker entry point: `node workers/worker.ts [--role orchestrator|runner|all]` (default all). */
import { parseArgs } from 'node:util';
import { runWorker } from './run-worker.ts';

const { values } = parseArgs({ options: { role: { type: 'string', default: 'all' } } });
const role = values.role;
if (role !== 'orchestrator' && role !== 'runner' && role !== 'all') {
  console.error(`--role: expected orchestrator, runner or all (got "${role}")`);
  process.exit(2);
}
await runWorker(role === 'all' ? ['orchestrator', 'runner'] : [role]);
