import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../../adapters/runner/kubernetes/token-bucket.ts';

describe('token bucket', () => {
  it('lets a burst through at once, then paces calls at the rate, in order', async () => {
    const bucket = new TokenBucket({ qps: 50, burst: 5 });
    const started = performance.now();
    const order: number[] = [];
    const times: number[] = [];
    await Promise.all(
      Array.from({ length: 15 }, (_, i) =>
        bucket.take().then(() => {
          order.push(i);
          times.push(performance.now() - started);
        }),
      ),
    );
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(times.slice(0, 5).every((t) => t < 15)).toBe(true);
    // 10 calls beyond the burst at 50/s take about 200 ms.
    expect(times.at(-1)).toBeGreaterThanOrEqual(180);
  });

  it('does not limit when the rate is 0 (off)', async () => {
    const bucket = new TokenBucket({ qps: 0, burst: 1 });
    expect(bucket.limited).toBe(false);
    const started = performance.now();
    await Promise.all(Array.from({ length: 1000 }, () => bucket.take()));
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('rejects nonsense settings, naming them', () => {
    expect(() => new TokenBucket({ qps: -1, burst: 1 })).toThrow(/qps/);
    expect(() => new TokenBucket({ qps: 1, burst: 0 })).toThrow(/burst/);
  });
});
