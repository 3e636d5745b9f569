import { readFileSync } from 'node:fs';
import { compilePipeline, formatProblem } from './shared/pipeline/index.ts';
const r = compilePipeline(readFileSync(process.argv[2]!, 'utf8'), '.ci.yaml', { branch: 'main', event: 'push' });
if (r.ok) console.log(JSON.stringify(r.dag, null, 1)); else console.log(r.problems.map(formatProblem).join('\n'));
