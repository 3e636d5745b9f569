/**
 * Quota broker benchmark against a real Redis (a private server started here). 5,000 jobs wait
 * across 50 tenants (weights 1, 2, 3 in turn), spread over several brokers as over several workers.
 *
 * 1. Paced: the pool (5,000 tokens) is full of held leases, released at the target rate of 1,000/s;
 *    each release hands its token to the next waiting job in fair-share order. Grant latency is
 *    from the grant in Redis (inside the script of the release that freed the token) until the
 *    waiting call resolved in its worker.
 * 2. Saturated: 5,000 more jobs queue behind those, which then all release at once; each new job
 *    releases as soon as it is granted. Grants/s = 5,000 ÷ (last grant − first release).
 * 3. Uncontended: sequential acquire round trips with free capacity.
 *
 * `npx node bench/quota.ts [--jobs 5000] [--tenants 50] [--rate 1000] [--brokers 4]`
 * Results go to bench/results/quota-<date>.json. Target: at least 1,000 grants/s.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { Lease, QuotaBroker, QuotaConfig } from '../adapters/quota/port.ts';
import { createRedisQuotaBroker } from '../adapters/quota/redis-broker.ts';
import { startRedis } from '../infra/dev/redis.ts';
import { summarise } from './stats.ts';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '5000' },
    tenants: { type: 'string', default: '50' },
    rate: { type: 'string', default: '1000' },
    brokers: { type: 'string', default: '4' },
    uncontended: { type: 'string', default: '2000' },
  },
});
const JOBS = Number(values.jobs);
const TENANTS = Number(values.tenants);
const RATE = Number(values.rate);
const BROKERS = Number(values.brokers);
const UNCONTENDED = Number(values.uncontended);
const LEASE_MS = 300_000;
const log = (m: string): void => console.log(`[bench:quota] ${m}`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const wallNow = (): number => performance.timeOrigin + performance.now();

const tenantName = (i: number): string => `tenant-${String(i).padStart(2, '0')}`;
const config: QuotaConfig = {
  pools: [
    { name: 'default', capacity: JOBS },
    { name: 'spare', capacity: 100, labels: ['spare'] },
  ],
  tenants: Object.fromEntries(
    Array.from({ length: TENANTS }, (_, i) => [tenantName(i), { weight: 1 + (i % 3) }]),
  ),
};

interface Wave {
  /** Resolves once every job of the wave is queued. */
  queued: Promise<void>;
  /** Resolves with the jobs' leases and the wall time each was seen. */
  granted: Promise<{ lease: Lease; seenAt: number; broker: QuotaBroker }[]>;
}

/** Queues `JOBS` jobs round-robin over tenants and brokers; `afterGrant` runs on each grant. */
function queueWave(
  brokers: QuotaBroker[],
  prefix: string,
  afterGrant: (broker: QuotaBroker, lease: Lease) => Promise<void>,
): Wave {
  let queued = 0;
  let allQueued: () => void = () => {};
  const queuedPromise = new Promise<void>((resolve) => (allQueued = resolve));
  const granted = Promise.all(
    Array.from({ length: JOBS }, async (_, i) => {
      const broker = brokers[i % brokers.length]!;
      const lease = await broker.acquire(
        {
          leaseId: `${prefix}-${i}`,
          tenant: tenantName(i % TENANTS),
          priority: i % 5 === 0 ? 1 : 0,
          leaseMs: LEASE_MS,
        },
        { onQueued: () => void (++queued === JOBS && allQueued()) },
      );
      const seenAt = wallNow();
      await afterGrant(broker, lease);
      return { lease, seenAt, broker };
    }),
  );
  return { queued: queuedPromise, granted };
}

const server = await startRedis({ onProgress: log });
const brokers: QuotaBroker[] = [];
try {
  for (let i = 0; i < BROKERS; i++) brokers.push(await createRedisQuotaBroker({ url: server.url, config }));
  const [main] = brokers as [QuotaBroker];
  const info = new Redis(server.url);
  const redisVersion = /redis_version:(\S+)/.exec(await info.info('server'))?.[1] ?? 'unknown';
  await info.quit();

  // Fill the pool with held leases, then queue every job.
  const holders = Array.from({ length: JOBS }, (_, i) => `holder-${i}`);
  await Promise.all(
    holders.map((leaseId, i) =>
      brokers[i % BROKERS]!.acquire({ leaseId, tenant: 'holders', leaseMs: LEASE_MS }),
    ),
  );
  const paced = queueWave(brokers, 'paced', async () => {});
  await paced.queued;
  const waiting = (await main.snapshot()).pools[0]!;
  log(`${waiting.waiting} jobs waiting across ${waiting.tenants.length - 1} tenants; releasing at ${RATE}/s`);

  // 1. Paced releases, on an absolute schedule so timer drift does not lower the rate.
  const pacedStarted = wallNow();
  const releases: Promise<void>[] = [];
  const TICK_MS = 10;
  for (let sent = 0; sent < JOBS;) {
    const due = Math.min(JOBS, Math.floor(((wallNow() - pacedStarted) / 1000) * RATE) + 1);
    for (; sent < due; sent++) releases.push(brokers[sent % BROKERS]!.release(holders[sent]!));
    await sleep(TICK_MS);
  }
  await Promise.all(releases);
  const pacedGrants = await paced.granted;
  const pacedLatency = pacedGrants.map((g) => g.seenAt - g.lease.grantedAt);
  const pacedMs = Math.max(...pacedGrants.map((g) => g.seenAt)) - pacedStarted;
  const pacedRate = Math.round(JOBS / (pacedMs / 1000));
  log(
    `paced: ${JOBS} grants in ${Math.round(pacedMs)} ms (${pacedRate}/s), latency ${JSON.stringify(summarise(pacedLatency))}`,
  );

  // 2. Saturated: a second wave queues behind the first, which then releases all at once.
  const saturated = queueWave(brokers, 'saturated', (broker, lease) => broker.release(lease.leaseId));
  await saturated.queued;
  const saturatedStarted = wallNow();
  await Promise.all(pacedGrants.map((g) => g.broker.release(g.lease.leaseId)));
  const saturatedGrants = await saturated.granted;
  const saturatedMs = Math.max(...saturatedGrants.map((g) => g.seenAt)) - saturatedStarted;
  const grantsPerSecond = Math.round(JOBS / (saturatedMs / 1000));
  const saturatedLatency = saturatedGrants.map((g) => g.seenAt - g.lease.grantedAt);
  log(`saturated: ${JOBS} grants in ${Math.round(saturatedMs)} ms → ${grantsPerSecond} grants/s`);

  const uncontended: number[] = [];
  for (let i = 0; i < UNCONTENDED; i++) {
    const started = performance.now();
    await main.acquire({
      leaseId: `solo-${i}`,
      tenant: tenantName(i % TENANTS),
      labels: ['spare'],
      leaseMs: LEASE_MS,
    });
    uncontended.push(performance.now() - started);
    await main.release(`solo-${i}`);
  }

  const counts = (await main.snapshot()).pools[0]!;
  const results = {
    benchmark: 'quota',
    date: new Date().toISOString(),
    redis: redisVersion,
    node: process.version,
    setup: {
      waitingJobs: JOBS,
      tenants: TENANTS,
      weights: '1, 2, 3 in turn',
      poolCapacityTokens: JOBS,
      brokers: BROKERS,
      wakeUp: 'pub/sub grant messages; safety re-check every 5 s',
      latency: 'grant time in Redis (ms, floored) to the waiting call resolving',
    },
    paced: {
      offeredRatePerSecond: RATE,
      achievedGrantsPerSecond: pacedRate,
      grantLatencyMs: summarise(pacedLatency),
    },
    saturated: {
      grantsPerSecond,
      drainMs: Math.round(saturatedMs),
      grantLatencyMs: summarise(saturatedLatency),
    },
    uncontendedAcquireMs: summarise(uncontended),
    grantsCounted: counts.grants,
    targetGrantsPerSecond: 1000,
  };
  log(`uncontended acquire ${JSON.stringify(results.uncontendedAcquireMs)}`);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `quota-${results.date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results written to ${file}`);
} finally {
  await Promise.all(brokers.map((b) => b.close()));
  await server.stop();
}
