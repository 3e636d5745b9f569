/**
 * Kiln's benchmarks: `npm run bench [-- --builds 100 --sustain-seconds 60 --rate 12]`.
 *
 * 1. webhook → first step: signed POST /webhooks/github until the step's own process reads the
 *    clock, one build at a time, p50/p95/p99.
 * 2. per-job overhead: a 20-job chain of trivial steps, against the same 20 commands run one
 *    after another directly by a shell (the physical limit), in the same run.
 * 3. sustained throughput: 1-job builds sent open-loop at a target rate, builds completed per second.
 *
 * Results go to bench/results/<date>.json and a table on stdout.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { signGithubPayload } from '../api/github/signature.ts';
import { KilnApiClient } from '../cli/api-client.ts';
import { isFinalBuildStatus, type BuildState } from '../shared/build-state.ts';
import { createTestRepo } from '../test/helpers/git-repo.ts';
import { startBenchStack } from './stack.ts';
import { median, summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    builds: { type: 'string', default: '100' },
    'chain-runs': { type: 'string', default: '3' },
    'sustain-seconds': { type: 'string', default: '60' },
    rate: { type: 'string', default: '12' },
    'drain-seconds': { type: 'string', default: '120' },
  },
});
const log = (m: string) => console.log(`[bench] ${m}`);
const SECRET = 'bench-webhook-secret';

const latencyRepo = createTestRepo({
  '.ci.yaml': `jobs:\n  first: { steps: [{ run: 'echo "t0=$(date +%s%N)"' }] }\n`,
});
const chainJobs = Array.from({ length: 20 }, (_, i) =>
  i === 0 ? `  j0: { steps: [{ run: 'true' }] }` : `  j${i}: { needs: j${i - 1}, steps: [{ run: 'true' }] }`,
).join('\n');
const chainRepo = createTestRepo({ '.ci.yaml': `jobs:\n${chainJobs}\n` });

const stack = await startBenchStack(
  [{ repo: 'bench/latency', cloneUrl: latencyRepo.url, webhookSecret: SECRET }],
  log,
);
const client = new KilnApiClient(stack.api.url, stack.config.KILN_API_TOKEN);

async function sendPush(): Promise<{ buildId: string; sentAt: number }> {
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    after: latencyRepo.sha,
    repository: { full_name: 'bench/latency' },
  });
  const sentAt = Date.now();
  const res = await fetch(`${stack.api.url}/webhooks/github`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': signGithubPayload(SECRET, body),
    },
    body,
  });
  if (res.status !== 201) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
  return { buildId: ((await res.json()) as { buildId: string }).buildId, sentAt };
}

async function waitFinal(buildId: string, intervalMs = 50): Promise<BuildState> {
  for (;;) {
    const build = await client.getBuild(buildId);
    if (isFinalBuildStatus(build.status)) return build;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

try {
  // Warm-up: the first build pays for the git mirror and the workflow cache.
  await waitFinal((await sendPush()).buildId);

  // 1. webhook → first step
  const builds = Number(values.builds);
  const latencies: number[] = [];
  const webhookAnswers: number[] = [];
  for (let i = 0; i < builds; i++) {
    const before = Date.now();
    const { buildId, sentAt } = await sendPush();
    webhookAnswers.push(Date.now() - before);
    const final = await waitFinal(buildId, 20);
    if (final.status !== 'succeeded') throw new Error(`latency build ${buildId} ended ${final.status}`);
    const t0 = /t0=(\d+)/.exec(await client.logs(buildId, 'first'));
    if (t0) latencies.push(Number(BigInt(t0[1]!) / 1_000_000n) - sentAt);
    if ((i + 1) % 20 === 0) log(`latency: ${i + 1}/${builds} builds`);
  }
  const latency = summarise(latencies);
  const webhook = summarise(webhookAnswers);
  log(`webhook → first step: ${JSON.stringify(latency)}; webhook answer: ${JSON.stringify(webhook)}`);

  // 2. per-job orchestration overhead on a 20-job chain vs. the shell
  const chainRuns = Number(values['chain-runs']);
  const kilnChain: number[] = [];
  const shellChain: number[] = [];
  for (let run = 0; run < chainRuns; run++) {
    const { buildId } = await client.startBuild({ cloneUrl: chainRepo.url, ref: 'main' });
    const final = await waitFinal(buildId, 50);
    if (final.status !== 'succeeded') throw new Error(`chain build ended ${final.status}`);
    kilnChain.push(Date.parse(final.finishedAt!) - Date.parse(final.startedAt!));
    const started = performance.now();
    for (let i = 0; i < 20; i++) spawnSync('sh', ['-e', '-c', 'true']);
    shellChain.push(performance.now() - started);
  }
  const chain = {
    kilnMs: median(kilnChain),
    shellMs: Math.round(median(shellChain) * 10) / 10,
    overheadPerJobMs: Math.round(((median(kilnChain) - median(shellChain)) / 20) * 10) / 10,
  };
  log(`20-job chain: ${JSON.stringify(chain)}`);

  // 3. sustained throughput with 1-job builds
  const seconds = Number(values['sustain-seconds']);
  const rate = Number(values.rate);
  const started: { buildId: string; sentAt: number }[] = [];
  const sends: Promise<void>[] = [];
  const windowStart = Date.now();
  for (let i = 0; i < seconds * rate; i++) {
    const due = windowStart + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sends.push(sendPush().then((s) => void started.push(s)));
  }
  await Promise.all(sends);
  const sendSeconds = (Date.now() - windowStart) / 1000;
  // Bounded: builds still running after the drain window count as not completed.
  const drainDeadline = Date.now() + Number(values['drain-seconds']) * 1000;
  let completed = 0;
  let lastFinish = windowStart;
  for (const { buildId } of started) {
    let build = await client.getBuild(buildId);
    while (!isFinalBuildStatus(build.status) && Date.now() < drainDeadline) {
      await new Promise((r) => setTimeout(r, 200));
      build = await client.getBuild(buildId);
    }
    if (build.status === 'succeeded') {
      completed++;
      lastFinish = Math.max(lastFinish, Date.parse(build.finishedAt!));
    }
  }
  const sustained = {
    targetRate: rate,
    sent: started.length,
    acceptedPerSecond: Math.round((started.length / sendSeconds) * 10) / 10,
    completed,
    completedPerSecond: Math.round((completed / ((lastFinish - windowStart) / 1000)) * 10) / 10,
    unfinishedAfterDrain: started.length - completed,
  };
  log(`sustained: ${JSON.stringify(sustained)}`);

  const results = {
    date: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
    webhookToFirstStepMs: latency,
    webhookAnswerMs: webhook,
    chain20: chain,
    sustained,
  };
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${results.date.slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`
| benchmark | result | target |
|---|---|---|
| webhook → first step p50 / p95 / p99 | ${latency.p50} / ${latency.p95} / ${latency.p99} ms | p99 < 1000 ms |
| webhook answer p50 / p99 | ${webhook.p50} / ${webhook.p99} ms | — |
| 20-job chain: Kiln vs shell | ${chain.kilnMs} ms vs ${chain.shellMs} ms → ${chain.overheadPerJobMs} ms/job | < 150 ms/job |
| sustained 1-job builds | ${sustained.completedPerSecond} builds/s completed (${sustained.acceptedPerSecond}/s accepted) | ≥ 12 builds/s |
results written to ${file}`);
} finally {
  await stack.stop();
}
