import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { compilePipeline, formatProblem } from './shared/pipeline/index.ts';
const ctx = { branch: 'main', event: 'push' };
for (const kind of ['valid', 'invalid']) {
  const dir = `test/fixtures/pipelines/${kind}`;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
    const r = compilePipeline(readFileSync(`${dir}/${f}`, 'utf8'), '.ci.yaml', ctx);
    const base = `${dir}/${f.replace(/\.yaml$/, '')}`;
    if (kind === 'valid') {
      if (!r.ok) throw new Error(f + r.problems.map(formatProblem).join('\n'));
      writeFileSync(`${base}.expected.json`, JSON.stringify(r.dag, null, 2) + '\n');
    } else {
      if (r.ok) throw new Error(f);
      writeFileSync(`${base}.expected.txt`, r.problems.map(formatProblem).join('\n') + '\n');
    }
  }
}
