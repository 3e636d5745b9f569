import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QuotaBroker, QuotaConfig } from '../../adapters/quota/port.ts';
import { createRedisQuotaBroker } from '../../adapters/quota/redis-broker.ts';
import { startRedis, type RunningRedis } from '../../infra/dev/redis.ts';
import { quotaBrokerContract, runJob, sleep, type BrokerSet } from './contract.ts';

let redis: RunningRedis;
let sets = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

/** Brokers on a fresh key prefix of the shared server. */
async function openRedis(config: QuotaConfig, recheckMs = 1000): Promise<BrokerSet> {
  const keyPrefix = `test-${++sets}:`;
  const brokers: QuotaBroker[] = [];
  const make = async (): Promise<QuotaBroker> => {
    const broker = await createRedisQuotaBroker({ url: redis.url, config, keyPrefix, recheckMs });
    brokers.push(broker);
    return broker;
  };
  return {
    broker: await make(),
    peer: make,
    close: async () => {
      await Promise.all(brokers.map((b) => b.close()));
    },
  };
}

quotaBrokerContract('redis', { open: (config) => openRedis(config) });

describe('Redis quota broker', () => {
  it('survives a Redis restart mid-run: no deadlock, no lost job', async () => {
    const set = await openRedis({ pools: [{ name: 'default', capacity: 8 }] });
    const peer = await set.peer();
    try {
      let granted = 0;
      const JOBS = 200;
      const jobs = Array.from({ length: JOBS }, (_, i) =>
        runJob(
          i % 2 ? set.broker : peer,
          { leaseId: `job-${i}`, tenant: i % 3 ? 'a' : 'b', leaseMs: 10_000 },
          20,
          {
            onGrant: () => void granted++,
          },
        ),
      );

      // A long job holding its lease by heartbeat: when the store forgets the lease, renew says so
      // and the job acquires again under the same id.
      let lost = 0;
      let running = true;
      const long = (async () => {
        await set.broker.acquire({ leaseId: 'long', tenant: 'c', leaseMs: 500 });
        while (running) {
          await sleep(100);
          try {
            await set.broker.renew('long', 500);
          } catch (err) {
            expect(err).toMatchObject({ code: 'LEASE_LOST' });
            lost += 1;
            await set.broker.acquire({ leaseId: 'long', tenant: 'c', leaseMs: 500 });
          }
        }
        await set.broker.release('long');
      })();

      while (granted < JOBS / 4) await sleep(5);
      await redis.restart();
      const results = await Promise.all(jobs);
      running = false;
      await long;
      expect(results).toHaveLength(JOBS);
      expect(granted).toBe(JOBS);
      expect(lost).toBeGreaterThanOrEqual(1);
      const snap = await set.broker.snapshot();
      expect(snap.pools[0]).toMatchObject({ tokensInUse: 0, waiting: 0, running: 0 });
    } finally {
      await set.close();
    }
  });

  it('keeps the place of a closed broker’s waiting request for a retry elsewhere, then drops it', async () => {
    const RECHECK = 100;
    const set = await openRedis({ pools: [{ name: 'default', capacity: 1 }] }, RECHECK);
    try {
      await set.broker.acquire({ leaseId: 'holder', tenant: 'a', leaseMs: 60_000 });
      const gone = await set.peer();
      const retried = await set.peer();
      const waiting = gone.acquire({ leaseId: 'retried', tenant: 'b', leaseMs: 60_000 });
      const abandoned = gone.acquire({ leaseId: 'abandoned', tenant: 'b', leaseMs: 60_000 });
      const outcomes = Promise.allSettled([waiting, abandoned]);
      await sleep(20);
      await gone.close();
      for (const outcome of await outcomes) {
        expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'QUOTA_BROKER_CLOSED' } });
      }
      // The retry on another worker resumes the same request, ahead of later arrivals.
      const retry = retried.acquire({ leaseId: 'retried', tenant: 'b', leaseMs: 60_000 });
      expect(await set.broker.position('retried')).toBe(1);
      // Nobody re-checks "abandoned": the sweeper drops it after three intervals.
      await sleep(RECHECK * 3 + 1100);
      expect(await set.broker.position('abandoned')).toBeUndefined();
      expect(await set.broker.position('retried')).toBe(1);
      await set.broker.release('holder');
      expect((await retry).leaseId).toBe('retried');
    } finally {
      await set.close();
    }
  });
});
