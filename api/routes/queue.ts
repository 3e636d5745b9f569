import { Hono } from 'hono';
import type { QuotaBroker, QuotaSnapshot } from '../../adapters/quota/port.ts';

/** `GET /queue`: per pool and tenant, what waits, what runs, tokens in use, the oldest wait. */
export function queueRoutes(deps: { quota: QuotaBroker }) {
  const app = new Hono();
  app.get('/', async (c) => c.json(await deps.quota.snapshot()));
  return app;
}

/** `GET /metrics`: the same numbers in Prometheus' text format (public, like most exporters). */
export function metricsRoutes(deps: { quota: QuotaBroker }) {
  const app = new Hono();
  app.get('/', async (c) =>
    c.body(renderMetrics(await deps.quota.snapshot()), 200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    }),
  );
  return app;
}

const HELP: [string, 'gauge' | 'counter', string][] = [
  ['kiln_queue_waiting_jobs', 'gauge', 'Jobs waiting for a runner slot'],
  ['kiln_queue_running_jobs', 'gauge', 'Jobs holding a runner slot'],
  ['kiln_queue_tokens_in_use', 'gauge', 'Quota tokens held'],
  ['kiln_queue_capacity_tokens', 'gauge', 'Quota tokens of the pool'],
  ['kiln_queue_oldest_wait_seconds', 'gauge', 'Wait of the longest-waiting job'],
  ['kiln_queue_grants_total', 'counter', 'Runner slots granted'],
  ['kiln_queue_wait_seconds_total', 'counter', 'Summed wait of granted jobs'],
];

export function renderMetrics(snapshot: QuotaSnapshot): string {
  const lines: string[] = [];
  const series = new Map<string, string[]>(HELP.map(([name]) => [name, []]));
  const add = (name: string, labels: Record<string, string>, value: number) => {
    const text = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (ch) => (ch === '\n' ? '\\n' : `\\${ch}`))}"`)
      .join(',');
    series.get(name)!.push(`${name}{${text}} ${value}`);
  };
  for (const pool of snapshot.pools) {
    add('kiln_queue_capacity_tokens', { pool: pool.pool }, pool.capacity);
    for (const t of pool.tenants) {
      const labels = { pool: pool.pool, tenant: t.tenant };
      add('kiln_queue_waiting_jobs', labels, t.waiting);
      add('kiln_queue_running_jobs', labels, t.running);
      add('kiln_queue_tokens_in_use', labels, t.tokensInUse);
      add('kiln_queue_oldest_wait_seconds', labels, t.oldestWaitMs / 1000);
      add('kiln_queue_grants_total', labels, t.grants);
      add('kiln_queue_wait_seconds_total', labels, t.totalWaitMs / 1000);
    }
  }
  for (const [name, type, help] of HELP) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...series.get(name)!);
  }
  return `${lines.join('\n')}\n`;
}
