/**
 * The contract every QuotaBroker adapter passes. `quotaBrokerContract` registers the suite for one
 * adapter; the adapter's test file supplies how to open brokers over a fresh, empty state.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AcquireRequest, Lease, QuotaBroker, QuotaConfig } from '../../adapters/quota/port.ts';

/** Brokers over one fresh state. */
export interface BrokerSet {
  broker: QuotaBroker;
  /** Another broker on the same state, as a second worker would hold. */
  peer(): Promise<QuotaBroker>;
  /** Closes every broker of the set. */
  close(): Promise<void>;
}

export interface QuotaTarget {
  open(config: QuotaConfig): Promise<BrokerSet>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface JobResult {
  lease: Lease;
  submittedAt: number;
  grantedAt: number;
}

/** A job: acquire, hold the lease for `holdMs`, release. Hooks run right after the grant is seen and right before the release. */
export async function runJob(
  broker: QuotaBroker,
  request: AcquireRequest,
  holdMs: number,
  hooks: { onGrant?: (lease: Lease) => void; onRelease?: (lease: Lease) => void } = {},
): Promise<JobResult> {
  const submittedAt = performance.now();
  const lease = await broker.acquire(request);
  const grantedAt = performance.now();
  hooks.onGrant?.(lease);
  await sleep(holdMs);
  hooks.onRelease?.(lease);
  await broker.release(request.leaseId);
  return { lease, submittedAt, grantedAt };
}

/**
 * Tokens in use as the clients see them: counted from the moment a grant is seen until just before
 * the release is sent. That interval lies inside the real one, so an excess seen here is real.
 */
class UsageTracker {
  readonly current = new Map<string, number>();
  readonly max = new Map<string, number>();
  add(key: string, tokens: number): void {
    const now = (this.current.get(key) ?? 0) + tokens;
    this.current.set(key, now);
    this.max.set(key, Math.max(this.max.get(key) ?? 0, now));
  }
  remove(key: string, tokens: number): void {
    this.current.set(key, (this.current.get(key) ?? 0) - tokens);
  }
  maxOf(key: string): number {
    return this.max.get(key) ?? 0;
  }
}

/** Samples the broker's snapshot until stopped; returns the largest values seen per key. */
function sampleSnapshots(broker: QuotaBroker): { stop(): Promise<Map<string, number>> } {
  const max = new Map<string, number>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const snap = await broker.snapshot();
      for (const pool of snap.pools) {
        max.set(pool.pool, Math.max(max.get(pool.pool) ?? 0, pool.tokensInUse));
        for (const t of pool.tenants) {
          const key = `${pool.pool}/${t.tenant}`;
          max.set(key, Math.max(max.get(key) ?? 0, t.tokensInUse));
        }
      }
      await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return max;
    },
  };
}

export function quotaBrokerContract(name: string, target: QuotaTarget): void {
  describe(`QuotaBroker contract: ${name}`, () => {
    const opened: BrokerSet[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((set) => set.close()));
    });
    const open = async (config: QuotaConfig): Promise<BrokerSet> => {
      const set = await target.open(config);
      opened.push(set);
      return set;
    };
    const LONG = 60_000;

    it('grants at once while tokens are free, in the pool the labels select', async () => {
      const { broker } = await open({
        pools: [
          { name: 'default', capacity: 8 },
          { name: 'gpu', capacity: 4, labels: ['linux', 'cuda'] },
        ],
      });
      const before = Date.now();
      const small = await broker.acquire({ leaseId: 's', tenant: 'a', leaseMs: 5000 });
      const large = await broker.acquire({
        leaseId: 'l',
        tenant: 'a',
        resourceClass: 'large',
        leaseMs: 5000,
      });
      const gpu = await broker.acquire({
        leaseId: 'g',
        tenant: 'b',
        resourceClass: 'medium',
        labels: ['gpu', 'cuda'],
        leaseMs: 5000,
      });
      expect([small.pool, small.tokens, large.pool, large.tokens]).toEqual(['default', 1, 'default', 4]);
      expect([gpu.pool, gpu.tokens, gpu.leaseId]).toEqual(['gpu', 2, 'g']);
      expect(small.grantedAt).toBeGreaterThanOrEqual(before - 5);
      expect(small.expiresAt - small.grantedAt).toBe(5000);
      const snap = await broker.snapshot();
      expect(snap.pools.map((p) => [p.pool, p.capacity, p.tokensInUse, p.running])).toEqual([
        ['default', 8, 5, 2],
        ['gpu', 4, 2, 1],
      ]);
    });

    it('rejects an unsatisfiable request at once, naming why', async () => {
      const { broker } = await open({
        pools: [
          { name: 'default', capacity: 3 },
          { name: 'arm', capacity: 8, labels: ['arm64'] },
        ],
        tenants: { tiny: { maxTokens: 1 } },
      });
      const cases: [AcquireRequest, string, RegExp][] = [
        [{ leaseId: 'x1', tenant: 'a', labels: ['gpu'], leaseMs: 1000 }, 'no-pool', /"gpu"/],
        [{ leaseId: 'x2', tenant: 'a', resourceClass: 'large', leaseMs: 1000 }, 'pool-capacity', /holds 3/],
        [
          { leaseId: 'x3', tenant: 'tiny', resourceClass: 'medium', leaseMs: 1000 },
          'tenant-cap',
          /capped at 1/,
        ],
        [{ leaseId: 'x4', tenant: 'a', resourceClass: 'huge', leaseMs: 1000 }, 'unknown-class', /"huge"/],
      ];
      for (const [request, reason, message] of cases) {
        const started = performance.now();
        const error = await broker.acquire(request).then(
          () => undefined,
          (err: unknown) => err as { code: string; reason: string; message: string },
        );
        expect(performance.now() - started).toBeLessThan(200);
        expect(error).toMatchObject({ code: 'QUOTA_UNSATISFIABLE', reason });
        expect(error?.message).toMatch(message);
      }
      // The same class fits where a larger matching pool exists.
      const arm = await broker.acquire({
        leaseId: 'ok',
        tenant: 'a',
        resourceClass: 'large',
        labels: ['arm64'],
        leaseMs: 1000,
      });
      expect(arm.pool).toBe('arm');
      const snap = await broker.snapshot();
      expect(snap.pools.reduce((n, p) => n + p.waiting, 0)).toBe(0);
    });

    it('acquiring again with the same lease id returns the same lease, never a second grant', async () => {
      const set = await open({ pools: [{ name: 'default', capacity: 1 }] });
      const peer = await set.peer();
      const first = await set.broker.acquire({ leaseId: 'job-1', tenant: 'a', leaseMs: 10_000 });
      const again = await peer.acquire({ leaseId: 'job-1', tenant: 'a', leaseMs: 10_000 });
      expect(again).toEqual(first);

      // While waiting: concurrent calls for one id, from two brokers, share one grant.
      const waiting = [
        set.broker.acquire({ leaseId: 'job-2', tenant: 'b', leaseMs: 10_000 }),
        peer.acquire({ leaseId: 'job-2', tenant: 'b', leaseMs: 10_000 }),
        set.broker.acquire({ leaseId: 'job-2', tenant: 'b', leaseMs: 10_000 }),
      ];
      await sleep(30);
      expect(await set.broker.position('job-2')).toBe(1);
      await set.broker.release('job-1');
      const leases = await Promise.all(waiting);
      expect(leases[1]).toEqual(leases[0]);
      expect(leases[2]).toEqual(leases[0]);
      const snap = await set.broker.snapshot();
      expect(snap.pools[0]).toMatchObject({ tokensInUse: 1, running: 1, waiting: 0, grants: 2 });
    });

    it('release is idempotent; renew extends a live lease and reports a gone one as LEASE_LOST', async () => {
      const { broker } = await open({ pools: [{ name: 'default', capacity: 2 }] });
      const lease = await broker.acquire({ leaseId: 'r', tenant: 'a', leaseMs: 1000 });
      await sleep(20);
      const renewed = await broker.renew('r', 5000);
      expect(renewed.expiresAt).toBeGreaterThan(lease.expiresAt);
      expect(renewed).toMatchObject({ leaseId: 'r', pool: 'default', tokens: 1, grantedAt: lease.grantedAt });
      await broker.release('r');
      await broker.release('r');
      await broker.release('never-seen');
      await expect(broker.renew('r', 1000)).rejects.toMatchObject({ code: 'LEASE_LOST', leaseId: 'r' });
      await expect(broker.renew('never-seen', 1000)).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect((await broker.snapshot()).pools[0]?.tokensInUse).toBe(0);
    });

    it('orders a tenant’s waiting jobs by priority, then by arrival', async () => {
      const { broker } = await open({ pools: [{ name: 'default', capacity: 1 }] });
      await broker.acquire({ leaseId: 'holder', tenant: 'a', leaseMs: LONG });
      const order: string[] = [];
      const queuedAt: Record<string, number> = {};
      const jobs: Promise<void>[] = [];
      for (const [id, priority] of [
        ['p1', 1],
        ['p5-first', 5],
        ['p3', 3],
        ['p5-second', 5],
        ['p2', 2],
        ['p0', 0],
      ] as const) {
        const queued = new Promise<void>((resolve) => {
          jobs.push(
            broker
              .acquire(
                { leaseId: id, tenant: 'a', priority, leaseMs: LONG },
                {
                  onQueued: (position) => {
                    queuedAt[id] = position;
                    resolve();
                  },
                },
              )
              .then(async () => {
                order.push(id);
                await broker.release(id);
              }),
          );
        });
        await queued;
      }
      expect(queuedAt).toEqual({ p1: 1, 'p5-first': 1, p3: 2, 'p5-second': 2, p2: 4, p0: 6 });
      const positions = await Promise.all(
        ['p5-first', 'p5-second', 'p3', 'p2', 'p1', 'p0', 'holder'].map((id) => broker.position(id)),
      );
      expect(positions).toEqual([1, 2, 3, 4, 5, 6, undefined]);
      await broker.release('holder');
      await Promise.all(jobs);
      expect(order).toEqual(['p5-first', 'p5-second', 'p3', 'p2', 'p1', 'p0']);
    });

    it('abort withdraws a waiting request', async () => {
      const { broker } = await open({ pools: [{ name: 'default', capacity: 1 }] });
      await broker.acquire({ leaseId: 'holder', tenant: 'a', leaseMs: LONG });
      const controller = new AbortController();
      const aborted = broker.acquire(
        { leaseId: 'aborted', tenant: 'b', leaseMs: LONG },
        { signal: controller.signal },
      );
      const next = broker.acquire({ leaseId: 'next', tenant: 'c', leaseMs: LONG });
      await sleep(30);
      controller.abort(new Error('build cancelled'));
      await expect(aborted).rejects.toThrow('build cancelled');
      await sleep(30);
      expect(await broker.position('aborted')).toBeUndefined();
      await broker.release('holder');
      expect((await next).leaseId).toBe('next');
      const snap = await broker.snapshot();
      expect(snap.pools[0]).toMatchObject({ waiting: 0, running: 1, grants: 2 });
      expect(snap.pools[0]?.tenants.find((t) => t.tenant === 'b')?.grants ?? 0).toBe(0);
      // An already aborted signal rejects without queueing.
      await expect(
        broker.acquire({ leaseId: 'late', tenant: 'b', leaseMs: LONG }, { signal: AbortSignal.abort() }),
      ).rejects.toThrow();
      expect(await broker.position('late')).toBeUndefined();
    });

    it('a burst of one tenant does not starve another: every late job starts within one wave', async () => {
      const CAPACITY = 20;
      const HOLD = 40;
      const { broker } = await open({ pools: [{ name: 'default', capacity: CAPACITY }] });
      const grants: { tenant: string; at: number }[] = [];
      const job = (tenant: string, i: number): Promise<JobResult> =>
        runJob(broker, { leaseId: `${tenant}-${i}`, tenant, leaseMs: LONG }, HOLD, {
          onGrant: () => grants.push({ tenant, at: performance.now() }),
        });
      const aJobs = range(500).map((i) => job('a', i));
      while (grants.length < CAPACITY) await sleep(2);
      await sleep(5);
      const bSubmitted = performance.now();
      const b = await Promise.all(range(10).map((i) => job('b', i)));
      const a = await Promise.all(aJobs);
      const lastB = Math.max(...b.map((r) => r.grantedAt));
      const bMaxWait = Math.max(...b.map((r) => r.grantedAt - r.submittedAt));
      const aGrantsMeanwhile = grants.filter(
        (g) => g.tenant === 'a' && g.at > bSubmitted && g.at < lastB,
      ).length;
      // First come, first served would make B wait for all of A: 25 waves.
      expect(bMaxWait).toBeLessThan(HOLD * 2 + 200);
      expect(aGrantsMeanwhile).toBeLessThanOrEqual(CAPACITY);
      expect(Math.max(...a.map((r) => r.grantedAt))).toBeGreaterThan(lastB + HOLD * 10);
    });

    it('over a long run each tenant’s share follows its weight within 10%', async () => {
      const weights = { light: 1, mid: 2, heavy: 3 };
      const { broker } = await open({
        pools: [{ name: 'default', capacity: 12 }],
        tenants: Object.fromEntries(Object.entries(weights).map(([t, weight]) => [t, { weight }])),
      });
      const WARMUP = 200;
      const MEASURED = 3000;
      const counts: Record<string, number> = { light: 0, mid: 0, heavy: 0 };
      let total = 0;
      let seq = 0;
      const loop = async (tenant: string): Promise<void> => {
        while (total < WARMUP + MEASURED) {
          const leaseId = `${tenant}-${seq++}`;
          await broker.acquire({ leaseId, tenant, leaseMs: LONG });
          total += 1;
          if (total > WARMUP && total <= WARMUP + MEASURED) counts[tenant] = (counts[tenant] ?? 0) + 1;
          await sleep(2);
          await broker.release(leaseId);
        }
      };
      await Promise.all(Object.keys(weights).flatMap((tenant) => range(12).map(() => loop(tenant))));
      const weightSum = Object.values(weights).reduce((a, b) => a + b, 0);
      for (const [tenant, weight] of Object.entries(weights)) {
        const expected = weight / weightSum;
        const share = counts[tenant]! / MEASURED;
        expect(
          Math.abs(share - expected) / expected,
          `${tenant}: share ${share}, expected ${expected}`,
        ).toBeLessThan(0.1);
      }
    });

    it('hard caps hold while other tenants use the rest', async () => {
      const { broker } = await open({
        pools: [{ name: 'default', capacity: 10 }],
        tenants: { capped: { maxTokens: 3 } },
      });
      const usage = new UsageTracker();
      const sampler = sampleSnapshots(broker);
      const jobs = (tenant: string): Promise<JobResult>[] =>
        range(20).map((i) =>
          runJob(
            broker,
            {
              leaseId: `${tenant}-${i}`,
              tenant,
              resourceClass: i % 4 === 0 ? 'medium' : 'small',
              leaseMs: LONG,
            },
            30,
            {
              onGrant: (l) => {
                usage.add(tenant, l.tokens);
                usage.add('pool', l.tokens);
              },
              onRelease: (l) => {
                usage.remove(tenant, l.tokens);
                usage.remove('pool', l.tokens);
              },
            },
          ),
        );
      await Promise.all([...jobs('capped'), ...jobs('free')]);
      const sampled = await sampler.stop();
      expect(usage.maxOf('capped')).toBe(3);
      expect(sampled.get('default/capped')).toBeLessThanOrEqual(3);
      expect(usage.maxOf('free')).toBeGreaterThanOrEqual(6);
      expect(usage.maxOf('pool')).toBeLessThanOrEqual(10);
      expect(sampled.get('default')).toBeLessThanOrEqual(10);
    });

    it('a capped tenant’s job in another pool starts as soon as the tenant is under its cap again', async () => {
      const { broker } = await open({
        pools: [
          { name: 'default', capacity: 4 },
          { name: 'gpu', capacity: 4, labels: ['cuda'] },
        ],
        tenants: { capped: { maxTokens: 2 } },
      });
      await broker.acquire({ leaseId: 'd1', tenant: 'capped', leaseMs: LONG });
      await broker.acquire({ leaseId: 'd2', tenant: 'capped', leaseMs: LONG });
      let grantedAt = 0;
      const gpu = broker
        .acquire({ leaseId: 'g1', tenant: 'capped', labels: ['cuda'], leaseMs: LONG })
        .then((lease) => ((grantedAt = performance.now()), lease));
      await sleep(50);
      expect(grantedAt).toBe(0);
      const released = performance.now();
      await broker.release('d1');
      expect((await gpu).pool).toBe('gpu');
      expect(grantedAt - released).toBeLessThan(150);
    });

    it('an expired lease is lost: renew says so, and acquiring again grants a new lease', async () => {
      const { broker } = await open({ pools: [{ name: 'default', capacity: 1 }] });
      const first = await broker.acquire({ leaseId: 'short', tenant: 'a', leaseMs: 100 });
      await sleep(150);
      await expect(broker.renew('short', 100)).rejects.toMatchObject({ code: 'LEASE_LOST' });
      const second = await broker.acquire({ leaseId: 'short', tenant: 'a', leaseMs: 1000 });
      expect(second.grantedAt).toBeGreaterThan(first.grantedAt);
      expect((await broker.snapshot()).pools[0]).toMatchObject({ tokensInUse: 1, running: 1, grants: 2 });
    });

    it('the leases of a crashed worker return after the lease time and waiting jobs proceed', async () => {
      const LEASE = 400;
      const set = await open({ pools: [{ name: 'default', capacity: 6 }] });
      const worker = await set.peer();
      const crashed = await Promise.all(
        range(5).map((i) => worker.acquire({ leaseId: `crashed-${i}`, tenant: 'a', leaseMs: LEASE })),
      );
      await set.broker.acquire({ leaseId: 'heartbeat', tenant: 'b', leaseMs: LEASE });
      await worker.close(); // no renewals, no releases from now on
      let beating = true;
      const heartbeat = (async () => {
        while (beating) {
          await sleep(LEASE / 4);
          await set.broker.renew('heartbeat', LEASE);
        }
      })();
      const grantedAt = await Promise.all(
        range(5).map(async (i) => {
          await set.broker.acquire({ leaseId: `waiting-${i}`, tenant: 'c', leaseMs: LEASE * 10 });
          return Date.now();
        }),
      );
      const earliestExpiry = Math.min(...crashed.map((l) => l.expiresAt));
      const latestExpiry = Math.max(...crashed.map((l) => l.expiresAt));
      expect(Math.min(...grantedAt)).toBeGreaterThanOrEqual(earliestExpiry - 5);
      expect(Math.max(...grantedAt)).toBeLessThan(latestExpiry + 1500);
      await sleep(LEASE);
      beating = false;
      await heartbeat; // every renewal succeeded: a renewed lease outlives its lease time
      const tenants = (await set.broker.snapshot()).pools[0]?.tenants ?? [];
      expect(tenants.map((t) => [t.tenant, t.running])).toEqual([
        ['a', 0],
        ['b', 1],
        ['c', 5],
      ]);
    });

    it('concurrent acquirers never share a token (randomised, seeded)', async () => {
      for (const seed of [11, 23, 37]) {
        const rnd = random(seed);
        const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
        const capacities: Record<string, number> = { default: 6, gpu: 4 };
        const set = await open({
          pools: [
            { name: 'default', capacity: 6 },
            { name: 'gpu', capacity: 4, labels: ['cuda'] },
          ],
          tenants: {
            t0: { weight: 1 },
            t1: { weight: 2 },
            t2: { weight: 1, maxTokens: 3 },
            t3: { weight: 0.5 },
          },
        });
        const brokers = [set.broker, await set.peer(), await set.peer()];
        const usage = new UsageTracker();
        const sampler = sampleSnapshots(set.broker);
        const JOBS = 150;
        const plans = range(JOBS).map((i) => {
          const tenant = pick(['t0', 't1', 't2', 't3']);
          const resourceClass = pick(tenant === 't2' ? ['small', 'medium'] : ['small', 'medium', 'large']);
          const request: AcquireRequest = {
            leaseId: `s${seed}-job-${i}`,
            tenant,
            priority: Math.floor(rnd() * 3),
            resourceClass,
            labels: rnd() < 0.3 ? ['cuda'] : [],
            leaseMs: LONG,
          };
          const callers = rnd() < 0.25 ? [pick(brokers), pick(brokers)] : [pick(brokers)];
          return { request, callers, delay: rnd() * 40, hold: rnd() * 6 };
        });
        const granted = new Set<string>();
        await Promise.all(
          plans.map(async ({ request, callers, delay, hold }) => {
            await sleep(delay);
            const leases = await Promise.all(callers.map((b) => b.acquire(request)));
            for (const lease of leases) expect(lease).toEqual(leases[0]);
            const lease = leases[0]!;
            expect(granted.has(lease.leaseId)).toBe(false);
            granted.add(lease.leaseId);
            usage.add(lease.pool, lease.tokens);
            usage.add(request.tenant, lease.tokens);
            await sleep(hold);
            usage.remove(lease.pool, lease.tokens);
            usage.remove(request.tenant, lease.tokens);
            await callers[0]!.release(request.leaseId);
          }),
        );
        const sampled = await sampler.stop();
        for (const [pool, capacity] of Object.entries(capacities)) {
          expect(usage.maxOf(pool), `seed ${seed}, ${pool}`).toBeLessThanOrEqual(capacity);
          expect(sampled.get(pool) ?? 0, `seed ${seed}, ${pool}`).toBeLessThanOrEqual(capacity);
        }
        expect(usage.maxOf('t2')).toBeLessThanOrEqual(3);
        const snap = await set.broker.snapshot();
        expect(snap.pools.reduce((n, p) => n + p.grants, 0)).toBe(JOBS);
        expect(snap.pools.map((p) => [p.tokensInUse, p.waiting, p.running])).toEqual([
          [0, 0, 0],
          [0, 0, 0],
        ]);
      }
    });

    it('snapshot reports waiting, running, tokens in use, oldest wait and counters', async () => {
      const { broker } = await open({ pools: [{ name: 'default', capacity: 2 }] });
      await broker.acquire({ leaseId: 'big', tenant: 'a', resourceClass: 'medium', leaseMs: LONG });
      const waiting = [1, 2].map((i) => broker.acquire({ leaseId: `w${i}`, tenant: 'b', leaseMs: LONG }));
      await sleep(60);
      const snap = await broker.snapshot();
      expect(snap.takenAt).toBeGreaterThan(Date.now() - 1000);
      const pool = snap.pools[0]!;
      expect(pool).toMatchObject({
        pool: 'default',
        capacity: 2,
        tokensInUse: 2,
        running: 1,
        waiting: 2,
        grants: 1,
      });
      expect(pool.oldestWaitMs).toBeGreaterThanOrEqual(50);
      expect(pool.tenants.map((t) => [t.tenant, t.waiting, t.running, t.tokensInUse])).toEqual([
        ['a', 0, 1, 2],
        ['b', 2, 0, 0],
      ]);
      await broker.release('big');
      await Promise.all(waiting);
      const after = (await broker.snapshot()).pools[0]!;
      const b = after.tenants.find((t) => t.tenant === 'b')!;
      expect(b).toMatchObject({ waiting: 0, running: 2, tokensInUse: 2, oldestWaitMs: 0, grants: 2 });
      expect(b.totalWaitMs).toBeGreaterThanOrEqual(100);
    });
  });
}
