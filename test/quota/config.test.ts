import { describe, expect, it } from 'vitest';
import { normalizeQuotaConfig, resolveRequest } from '../../adapters/quota/config.ts';
import type { QuotaConfig } from '../../adapters/quota/port.ts';

const request = { leaseId: 'r', tenant: 't', leaseMs: 1000 };

describe('quota configuration', () => {
  it('names the bad field of an invalid configuration', () => {
    const bad: [QuotaConfig, string][] = [
      [{ pools: [] }, 'quota.pools'],
      [{ pools: [{ name: 'a:b', capacity: 1 }] }, 'quota.pools[0].name'],
      [
        {
          pools: [
            { name: 'a', capacity: 1 },
            { name: 'a', capacity: 2 },
          ],
        },
        'quota.pools[1].name',
      ],
      [{ pools: [{ name: 'a', capacity: 1.5 }] }, 'quota.pools[0].capacity'],
      [{ pools: [{ name: 'a', capacity: 1 }], resourceClasses: { xl: 0 } }, 'quota.resourceClasses.xl'],
      [{ pools: [{ name: 'a', capacity: 1 }], tenants: { t: { weight: 0 } } }, 'quota.tenants.t.weight'],
      [
        { pools: [{ name: 'a', capacity: 1 }], tenants: { t: { maxTokens: -1 } } },
        'quota.tenants.t.maxTokens',
      ],
    ];
    for (const [config, field] of bad) {
      expect(() => normalizeQuotaConfig(config), field).toThrow(
        expect.objectContaining({ code: 'INVALID_INPUT', field }),
      );
    }
  });

  it('serves a request from the first pool carrying all its labels whose capacity fits the class', () => {
    const config = normalizeQuotaConfig({
      pools: [
        { name: 'default', capacity: 8, labels: ['linux'] },
        { name: 'small-arm', capacity: 2, labels: ['linux', 'arm64'] },
        { name: 'arm', capacity: 16, labels: ['linux', 'arm64'] },
      ],
      resourceClasses: { small: 1, medium: 2, large: 4, xlarge: 16 },
    });
    const pool = (labels: string[], resourceClass = 'small'): string =>
      resolveRequest(config, { ...request, labels, resourceClass }).pool;
    expect(pool([])).toBe('default');
    expect(pool(['linux'])).toBe('default');
    expect(pool(['arm64'])).toBe('small-arm');
    expect(pool(['arm64', 'linux'], 'large')).toBe('arm');
    expect(pool(['arm'])).toBe('arm'); // a pool's name is one of its labels
    expect(resolveRequest(config, { ...request, labels: ['arm64'], resourceClass: 'xlarge' }).tokens).toBe(
      16,
    );
  });

  it('defaults priority to 0 and the class to small, and rejects malformed requests', () => {
    const config = normalizeQuotaConfig({ pools: [{ name: 'default', capacity: 2 }] });
    expect(resolveRequest(config, request)).toEqual({ ...request, priority: 0, pool: 'default', tokens: 1 });
    expect(() => resolveRequest(config, { ...request, leaseId: '' })).toThrow(
      expect.objectContaining({ field: 'leaseId' }),
    );
    expect(() => resolveRequest(config, { ...request, leaseMs: 0 })).toThrow(
      expect.objectContaining({ field: 'leaseMs' }),
    );
    expect(() => resolveRequest(config, { ...request, priority: Number.NaN })).toThrow(
      expect.objectContaining({ field: 'priority' }),
    );
  });
});
