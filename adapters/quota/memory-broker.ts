/**
 * Embedded quota broker: the whole state in this process, for the one-command local start and for
 * tests. Same contract as the Redis adapter; the granting order is the same algorithm.
 */
import { normalizeQuotaConfig, resolveRequest, tenantSettings, type NormalizedPool } from './config.ts';
import type { NormalizedQuotaConfig, ResolvedRequest } from './config.ts';
import { LeaseLostError, QuotaBrokerClosedError } from './errors.ts';
import type {
  AcquireOptions,
  AcquireRequest,
  Lease,
  PoolUsage,
  QuotaBroker,
  QuotaConfig,
  QuotaSnapshot,
  TenantUsage,
} from './port.ts';

interface Caller {
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

interface Waiter {
  request: ResolvedRequest;
  seq: number;
  enqueuedAt: number;
  callers: Set<Caller>;
}

interface HeldLease {
  lease: Lease;
  tenant: string;
}

/** One tenant in one pool. */
interface TenantState {
  /** Waiting jobs: priority descending, then arrival. */
  queue: Waiter[];
  tokensInUse: number;
  running: number;
  grants: number;
  totalWaitMs: number;
}

interface PoolState {
  pool: NormalizedPool;
  used: number;
  tenants: Map<string, TenantState>;
}

/** Creates an in-process broker. */
export function createMemoryQuotaBroker(config: QuotaConfig): QuotaBroker {
  return new MemoryQuotaBroker(normalizeQuotaConfig(config));
}

class MemoryQuotaBroker implements QuotaBroker {
  readonly #config: NormalizedQuotaConfig;
  readonly #pools = new Map<string, PoolState>();
  readonly #waiters = new Map<string, Waiter>();
  readonly #leases = new Map<string, HeldLease>();
  /** Tokens in use per tenant over all pools (for hard caps). */
  readonly #tenantTokens = new Map<string, number>();
  #seq = 0;
  #closed = false;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAt = Infinity;

  constructor(config: NormalizedQuotaConfig) {
    this.#config = config;
    for (const pool of config.pools) this.#pools.set(pool.name, { pool, used: 0, tenants: new Map() });
  }

  acquire(request: AcquireRequest, options: AcquireOptions = {}): Promise<Lease> {
    if (this.#closed) return Promise.reject(new QuotaBrokerClosedError());
    let resolved: ResolvedRequest;
    try {
      resolved = resolveRequest(this.#config, request);
      options.signal?.throwIfAborted();
    } catch (err) {
      return Promise.reject(err);
    }
    const now = Date.now();
    this.#expire(now);
    const held = this.#leases.get(resolved.leaseId);
    if (held) return Promise.resolve({ ...held.lease });

    return new Promise<Lease>((resolve, reject) => {
      const { signal } = options;
      const onAbort = (): void => {
        this.#withdraw(resolved.leaseId, caller);
        reject(signal?.reason);
      };
      const caller: Caller = {
        resolve: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });

      const existing = this.#waiters.get(resolved.leaseId);
      if (existing) {
        existing.callers.add(caller);
        options.onQueued?.(this.#rank(existing));
        return;
      }
      const waiter: Waiter = {
        request: resolved,
        seq: ++this.#seq,
        enqueuedAt: now,
        callers: new Set([caller]),
      };
      this.#enqueue(waiter);
      this.#grant(this.#poolState(resolved.pool), now);
      if (this.#waiters.has(resolved.leaseId)) options.onQueued?.(this.#rank(waiter));
    });
  }

  async renew(leaseId: string, leaseMs: number): Promise<Lease> {
    this.#assertOpen();
    const now = Date.now();
    this.#expire(now);
    const held = this.#leases.get(leaseId);
    if (!held) throw new LeaseLostError(leaseId);
    held.lease.expiresAt = now + leaseMs;
    return { ...held.lease };
  }

  async release(leaseId: string): Promise<void> {
    this.#assertOpen();
    const waiter = this.#waiters.get(leaseId);
    if (waiter) {
      this.#dequeue(waiter);
      this.#grant(this.#poolState(waiter.request.pool), Date.now());
    }
    for (const pool of this.#free(leaseId)) this.#grant(pool, Date.now());
  }

  async position(leaseId: string): Promise<number | undefined> {
    this.#assertOpen();
    const waiter = this.#waiters.get(leaseId);
    return waiter ? this.#rank(waiter) : undefined;
  }

  async snapshot(): Promise<QuotaSnapshot> {
    this.#assertOpen();
    const now = Date.now();
    this.#expire(now);
    const pools = [...this.#pools.values()].map((state): PoolUsage => {
      const tenants = [...state.tenants.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([tenant, t]): TenantUsage => ({
          tenant,
          waiting: t.queue.length,
          running: t.running,
          tokensInUse: t.tokensInUse,
          oldestWaitMs: t.queue.length ? now - Math.min(...t.queue.map((w) => w.enqueuedAt)) : 0,
          grants: t.grants,
          totalWaitMs: t.totalWaitMs,
        }));
      const sum = (key: 'waiting' | 'running' | 'grants' | 'totalWaitMs'): number =>
        tenants.reduce((acc, t) => acc + t[key], 0);
      return {
        pool: state.pool.name,
        capacity: state.pool.capacity,
        tokensInUse: state.used,
        waiting: sum('waiting'),
        running: sum('running'),
        oldestWaitMs: Math.max(0, ...tenants.map((t) => t.oldestWaitMs)),
        grants: sum('grants'),
        totalWaitMs: sum('totalWaitMs'),
        tenants,
      };
    });
    return { takenAt: now, pools };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiryTimer);
    for (const waiter of this.#waiters.values()) {
      for (const caller of waiter.callers) caller.reject(new QuotaBrokerClosedError());
    }
    this.#waiters.clear();
  }

  #assertOpen(): void {
    if (this.#closed) throw new QuotaBrokerClosedError();
  }

  #poolState(name: string): PoolState {
    const state = this.#pools.get(name);
    if (!state) throw new Error(`unknown pool "${name}"`);
    return state;
  }

  #tenantState(pool: PoolState, tenant: string): TenantState {
    let state = pool.tenants.get(tenant);
    if (!state) {
      state = { queue: [], tokensInUse: 0, running: 0, grants: 0, totalWaitMs: 0 };
      pool.tenants.set(tenant, state);
    }
    return state;
  }

  #enqueue(waiter: Waiter): void {
    const { queue } = this.#tenantState(this.#poolState(waiter.request.pool), waiter.request.tenant);
    // After every waiter of equal or higher priority (they all arrived earlier).
    let lo = 0;
    let hi = queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (queue[mid]!.request.priority >= waiter.request.priority) lo = mid + 1;
      else hi = mid;
    }
    queue.splice(lo, 0, waiter);
    this.#waiters.set(waiter.request.leaseId, waiter);
  }

  #dequeue(waiter: Waiter): void {
    const { queue } = this.#tenantState(this.#poolState(waiter.request.pool), waiter.request.tenant);
    const index = queue.indexOf(waiter);
    if (index >= 0) queue.splice(index, 1);
    this.#waiters.delete(waiter.request.leaseId);
  }

  #rank(waiter: Waiter): number {
    const { queue } = this.#tenantState(this.#poolState(waiter.request.pool), waiter.request.tenant);
    return queue.indexOf(waiter) + 1;
  }

  #withdraw(leaseId: string, caller: Caller): void {
    const waiter = this.#waiters.get(leaseId);
    if (!waiter?.callers.delete(caller) || waiter.callers.size > 0) return;
    this.#dequeue(waiter);
    this.#grant(this.#poolState(waiter.request.pool), Date.now());
  }

  /** Grants in fair-share order while the chosen job fits in the free tokens. */
  #grant(pool: PoolState, now: number): void {
    for (;;) {
      const free = pool.pool.capacity - pool.used;
      if (free <= 0) return;
      let best: { waiter: Waiter; ratio: number } | undefined;
      for (const [tenant, state] of pool.tenants) {
        const head = state.queue[0];
        if (!head) continue;
        const { weight, maxTokens } = tenantSettings(this.#config, tenant);
        if (
          maxTokens !== undefined &&
          (this.#tenantTokens.get(tenant) ?? 0) + head.request.tokens > maxTokens
        ) {
          continue;
        }
        const ratio = state.tokensInUse / weight;
        if (!best || ratio < best.ratio || (ratio === best.ratio && head.seq < best.waiter.seq)) {
          best = { waiter: head, ratio };
        }
      }
      if (!best || best.waiter.request.tokens > free) return;
      this.#grantTo(pool, best.waiter, now);
    }
  }

  #grantTo(pool: PoolState, waiter: Waiter, now: number): void {
    const { leaseId, tenant, tokens, leaseMs } = waiter.request;
    this.#dequeue(waiter);
    const lease: Lease = { leaseId, pool: pool.pool.name, tokens, expiresAt: now + leaseMs, grantedAt: now };
    this.#leases.set(leaseId, { lease, tenant });
    pool.used += tokens;
    const state = this.#tenantState(pool, tenant);
    state.tokensInUse += tokens;
    state.running += 1;
    state.grants += 1;
    state.totalWaitMs += now - waiter.enqueuedAt;
    this.#tenantTokens.set(tenant, (this.#tenantTokens.get(tenant) ?? 0) + tokens);
    this.#scheduleExpiry(lease.expiresAt);
    for (const caller of waiter.callers) caller.resolve({ ...lease });
  }

  /**
   * Returns a lease's tokens. Returns the pools where a grant may now be possible: the lease's own,
   * and for a capped tenant every pool (its jobs elsewhere may fit under the cap again).
   */
  #free(leaseId: string): PoolState[] {
    const held = this.#leases.get(leaseId);
    if (!held) return [];
    this.#leases.delete(leaseId);
    const pool = this.#poolState(held.lease.pool);
    const state = this.#tenantState(pool, held.tenant);
    pool.used -= held.lease.tokens;
    state.tokensInUse -= held.lease.tokens;
    state.running -= 1;
    this.#tenantTokens.set(held.tenant, (this.#tenantTokens.get(held.tenant) ?? 0) - held.lease.tokens);
    const capped = tenantSettings(this.#config, held.tenant).maxTokens !== undefined;
    return capped ? [pool, ...[...this.#pools.values()].filter((p) => p !== pool)] : [pool];
  }

  /**
   * Frees every lease past its expiry, then grants in the pools that got tokens back. No lease
   * expires before the armed timer (renewals only move expiries later), so until then it is free.
   */
  #expire(now: number): void {
    if (now < this.#expiryAt) return;
    const freed = new Set<PoolState>();
    for (const [leaseId, held] of this.#leases) {
      if (held.lease.expiresAt <= now) {
        for (const pool of this.#free(leaseId)) freed.add(pool);
      }
    }
    for (const pool of freed) this.#grant(pool, now);
  }

  #scheduleExpiry(at: number): void {
    if (this.#closed || at >= this.#expiryAt) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryAt = at;
    this.#expiryTimer = setTimeout(() => this.#onExpiryTimer(), Math.max(0, at - Date.now()));
  }

  #onExpiryTimer(): void {
    this.#expire(Date.now());
    this.#expiryAt = Infinity;
    // Renewals move expiries later than the timer knew: re-arm for the earliest one left.
    let next = Infinity;
    for (const held of this.#leases.values()) next = Math.min(next, held.lease.expiresAt);
    if (next !== Infinity) this.#scheduleExpiry(next);
  }
}
