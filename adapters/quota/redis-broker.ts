/**
 * Production quota broker on Redis. State lives in Redis and changes only inside Lua scripts
 * (see redis-scripts.ts), so any number of brokers in any number of workers share it safely.
 *
 * Waking waiters: the script that grants publishes the grant; each broker holds one subscriber
 * connection and resolves its own waiting calls from those messages, so nobody polls. As a safety
 * net (a message missed while reconnecting, a store that lost its state) each waiting request is
 * re-checked every `recheckMs` by re-running the idempotent acquire script, which re-enqueues it
 * if the store forgot it; the re-check also proves the waiter's broker is alive, and waiters of a
 * broker that stopped re-checking are dropped by the sweeper after three intervals.
 *
 * A sweeper in every broker frees expired leases and runs the grant loop, timed to the next lease
 * expiry and at least every `sweepMs`. While Redis is unreachable, waiting calls keep waiting (and
 * retry at each re-check); `renew` and `release` fail once the client gives up, for the caller to
 * retry.
 *
 * One Redis server (or one hash slot) holds the state; every broker on it must use the same
 * configuration (the last one to start writes it, and re-writes it after the store restarted).
 * Without persistence, a Redis restart forgets leases: holders learn it from `renew`
 * (`LeaseLostError`) and acquire again with the same lease id; waiters re-enqueue by themselves.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { normalizeQuotaConfig, resolveRequest } from './config.ts';
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
import { scripts, type LuaScript } from './redis-scripts.ts';

export interface RedisQuotaBrokerOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  url: string;
  config: QuotaConfig;
  /**
   * Prefix of every key and of the grant channel; brokers sharing state use the same one.
   * @default 'kiln:quota:'
   */
  keyPrefix?: string;
  /**
   * Interval of the safety re-check of each waiting request, in ms (jittered ±20%).
   * @default 5000
   */
  recheckMs?: number;
  /**
   * Longest pause between two sweeps, in ms; sweeps also run at the next lease expiry.
   * @default 1000
   */
  sweepMs?: number;
  /** Extra options for both connections (TLS, password, retry strategy). */
  redisOptions?: RedisOptions;
  /**
   * Errors of background work (sweeps, re-checks, withdrawals), which are retried by themselves.
   * @default ignore them
   */
  onError?: (err: unknown) => void;
}

interface Caller {
  resolve(lease: Lease): void;
  reject(err: unknown): void;
  onQueued: ((position: number) => void) | undefined;
}

/** The calls of this process waiting for one lease id. */
interface LocalWaiter {
  request: ResolvedRequest;
  callers: Set<Caller>;
  nextCheckAt: number;
}

type AcquireReply = ['granted', string, number, number, number] | ['waiting', number];

/** Connects, writes the configuration, subscribes to grants and starts the sweeper. */
export async function createRedisQuotaBroker(options: RedisQuotaBrokerOptions): Promise<QuotaBroker> {
  const broker = new RedisQuotaBroker(options);
  try {
    await broker.start(options.url);
  } catch (err) {
    await broker.close();
    throw err;
  }
  return broker;
}

const SWEEP_BATCH = 1000;

class RedisQuotaBroker implements QuotaBroker {
  readonly #config: NormalizedQuotaConfig;
  readonly #configJson: string;
  readonly #prefix: string;
  readonly #recheckMs: number;
  readonly #sweepMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #waiting = new Map<string, LocalWaiter>();
  #closed = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  #recheckTimer: NodeJS.Timeout | undefined;
  #rechecking = false;
  #loading: Promise<void> | undefined;

  constructor(options: RedisQuotaBrokerOptions) {
    this.#config = normalizeQuotaConfig(options.config);
    this.#configJson = JSON.stringify({
      pools: Object.fromEntries(this.#config.pools.map((p) => [p.name, p.capacity])),
      weights: Object.fromEntries([...this.#config.tenants].map(([t, s]) => [t, s.weight])),
      caps: Object.fromEntries(
        [...this.#config.tenants].flatMap(([t, s]) => (s.maxTokens === undefined ? [] : [[t, s.maxTokens]])),
      ),
    });
    this.#prefix = options.keyPrefix ?? 'kiln:quota:';
    this.#recheckMs = options.recheckMs ?? 5000;
    this.#sweepMs = options.sweepMs ?? 1000;
    this.#onError = options.onError ?? (() => {});
    const connection: RedisOptions = { lazyConnect: true, ...options.redisOptions };
    this.#redis = new Redis(options.url, { enableAutoPipelining: true, ...connection });
    this.#sub = new Redis(options.url, connection);
    // Connection errors surface through the calls that fail; the client reconnects by itself.
    this.#redis.on('error', () => {});
    this.#sub.on('error', () => {});
  }

  async start(url: string): Promise<void> {
    try {
      await Promise.all([this.#redis.connect(), this.#sub.connect()]);
    } catch (err) {
      const { host } = new URL(url); // no credentials in the message
      throw new Error(`cannot connect to Redis at ${host}: ${(err as Error).message}`, { cause: err });
    }
    await this.#loadScripts();
    await this.#configure();
    this.#sub.on('message', (_channel: string, message: string) => this.#onGranted(message));
    await this.#sub.subscribe(`${this.#prefix}granted`);
    // After a reconnect, messages may have been missed and the store may have restarted empty.
    const recheckAll = (): void => {
      for (const waiter of this.#waiting.values()) waiter.nextCheckAt = 0;
      void this.#recheck();
    };
    this.#redis.on('ready', recheckAll);
    this.#sub.on('ready', recheckAll);
    this.#scheduleRecheck();
    this.#scheduleSweep(0);
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
    const { leaseId } = resolved;
    return new Promise<Lease>((resolve, reject) => {
      const { signal } = options;
      const onAbort = (): void => {
        this.#withdraw(leaseId, caller);
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
        onQueued: options.onQueued,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      // Registered before the script runs: a grant message may arrive before the script's reply.
      let waiter = this.#waiting.get(leaseId);
      if (!waiter) {
        waiter = { request: resolved, callers: new Set(), nextCheckAt: this.#nextCheck() };
        this.#waiting.set(leaseId, waiter);
      }
      waiter.callers.add(caller);
      this.#check(resolved).catch((err: unknown) => {
        if (!isReplyError(err)) return; // transient: the re-check retries
        this.#waiting.get(leaseId)?.callers.delete(caller);
        if (this.#waiting.get(leaseId)?.callers.size === 0) this.#waiting.delete(leaseId);
        caller.reject(err);
      });
    });
  }

  async renew(leaseId: string, leaseMs: number): Promise<Lease> {
    this.#assertOpen();
    const reply = (await this.#run(scripts.renew, [leaseId, String(leaseMs)])) as
      [string, number, number, number] | null;
    if (reply === null) throw new LeaseLostError(leaseId);
    const [pool, tokens, expiresAt, grantedAt] = reply;
    return { leaseId, pool, tokens, expiresAt, grantedAt };
  }

  async release(leaseId: string): Promise<void> {
    this.#assertOpen();
    await this.#run(scripts.release, [leaseId]);
  }

  async position(leaseId: string): Promise<number | undefined> {
    this.#assertOpen();
    const rank = (await this.#run(scripts.position, [leaseId])) as number;
    return rank > 0 ? rank : undefined;
  }

  async snapshot(): Promise<QuotaSnapshot> {
    this.#assertOpen();
    const raw = JSON.parse((await this.#run(scripts.snapshot, [])) as string) as {
      takenAt: number;
      pools: { pool: string; capacity: number; tokensInUse: number; tenants: TenantUsage[] | object }[];
    };
    const byName = new Map(raw.pools.map((p) => [p.pool, p]));
    const pools = this.#config.pools.map((config): PoolUsage => {
      const found = byName.get(config.name);
      const tenants = (Array.isArray(found?.tenants) ? (found.tenants as TenantUsage[]) : [])
        .map((t): TenantUsage => ({
          tenant: t.tenant,
          waiting: t.waiting,
          running: t.running,
          tokensInUse: t.tokensInUse,
          oldestWaitMs: t.oldestWaitMs,
          grants: t.grants,
          totalWaitMs: t.totalWaitMs,
        }))
        .sort((a, b) => a.tenant.localeCompare(b.tenant));
      const sum = (key: 'waiting' | 'running' | 'grants' | 'totalWaitMs'): number =>
        tenants.reduce((acc, t) => acc + t[key], 0);
      return {
        pool: config.name,
        capacity: config.capacity,
        tokensInUse: found?.tokensInUse ?? 0,
        waiting: sum('waiting'),
        running: sum('running'),
        oldestWaitMs: Math.max(0, ...tenants.map((t) => t.oldestWaitMs)),
        grants: sum('grants'),
        totalWaitMs: sum('totalWaitMs'),
        tenants,
      };
    });
    return { takenAt: raw.takenAt, pools };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#sweepTimer);
    clearTimeout(this.#recheckTimer);
    for (const waiter of this.#waiting.values()) {
      for (const caller of waiter.callers) caller.reject(new QuotaBrokerClosedError());
    }
    this.#waiting.clear();
    await Promise.all(
      [this.#redis, this.#sub].map((c) =>
        c.status === 'ready'
          ? c.quit().then(
              () => undefined,
              () => c.disconnect(),
            )
          : c.disconnect(),
      ),
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new QuotaBrokerClosedError();
  }

  /** EVALSHA, loading the scripts when the server does not know them (a new or restarted server). */
  async #eval(script: LuaScript, args: string[]): Promise<unknown> {
    try {
      return await this.#redis.evalsha(script.sha, 0, this.#prefix, ...args);
    } catch (err) {
      if (!isReplyError(err) || !err.message.startsWith('NOSCRIPT')) throw err;
      await this.#loadScripts();
      return this.#redis.evalsha(script.sha, 0, this.#prefix, ...args);
    }
  }

  /** SCRIPT LOAD of every script, shared by all calls that found them missing at the same time. */
  #loadScripts(): Promise<void> {
    this.#loading ??= Promise.all(Object.values(scripts).map((s) => this.#redis.script('LOAD', s.source)))
      .then(() => undefined)
      .finally(() => (this.#loading = undefined));
    return this.#loading;
  }

  /** Runs a script; writes the configuration again when the store lost it, then retries once. */
  async #run(script: LuaScript, args: string[]): Promise<unknown> {
    try {
      return await this.#eval(script, args);
    } catch (err) {
      if (!isReplyError(err) || !err.message.includes('NOCONFIG')) throw err;
      await this.#configure();
      return this.#eval(script, args);
    }
  }

  async #configure(): Promise<void> {
    await this.#eval(scripts.configure, [this.#configJson]);
  }

  /** Runs the acquire script for a request and settles or notifies its local callers. */
  async #check(request: ResolvedRequest): Promise<void> {
    const reply = (await this.#run(scripts.acquire, [
      request.leaseId,
      request.tenant,
      request.pool,
      String(request.tokens),
      String(request.priority),
      String(request.leaseMs),
      String(this.#recheckMs * 3),
    ])) as AcquireReply;
    if (reply[0] === 'granted') {
      const [, pool, tokens, expiresAt, grantedAt] = reply;
      this.#settle({ leaseId: request.leaseId, pool, tokens, expiresAt, grantedAt });
      return;
    }
    const waiter = this.#waiting.get(request.leaseId);
    for (const caller of waiter?.callers ?? []) {
      const notify = caller.onQueued;
      caller.onQueued = undefined;
      notify?.(reply[1]);
    }
  }

  #settle(lease: Lease): void {
    const waiter = this.#waiting.get(lease.leaseId);
    if (!waiter) return;
    this.#waiting.delete(lease.leaseId);
    for (const caller of waiter.callers) caller.resolve({ ...lease });
  }

  #onGranted(message: string): void {
    const parts = message.split('|');
    const leaseId = parts.slice(4).join('|');
    if (!this.#waiting.has(leaseId)) return;
    const [pool = '', tokens, expiresAt, grantedAt] = parts;
    this.#settle({
      leaseId,
      pool,
      tokens: Number(tokens),
      expiresAt: Number(expiresAt),
      grantedAt: Number(grantedAt),
    });
  }

  /** Removes an aborted call; the last one for its lease id withdraws the request from the store. */
  #withdraw(leaseId: string, caller: Caller): void {
    const waiter = this.#waiting.get(leaseId);
    if (!waiter?.callers.delete(caller) || waiter.callers.size > 0) return;
    this.#waiting.delete(leaseId);
    // Also frees the lease if it was granted before the abort was seen.
    this.#run(scripts.release, [leaseId]).catch(this.#onError);
  }

  #nextCheck(): number {
    return Date.now() + this.#recheckMs * (0.8 + 0.4 * Math.random());
  }

  #scheduleRecheck(): void {
    if (this.#closed) return;
    const tick = Math.max(10, Math.min(1000, this.#recheckMs / 4));
    this.#recheckTimer = setTimeout(() => void this.#recheck(), tick);
  }

  /** Re-runs the acquire script for every local request whose re-check is due. */
  async #recheck(): Promise<void> {
    if (this.#closed || this.#rechecking) return;
    this.#rechecking = true;
    clearTimeout(this.#recheckTimer);
    try {
      const now = Date.now();
      const due = [...this.#waiting.values()].filter((w) => w.nextCheckAt <= now);
      await Promise.all(
        due.map(async (waiter) => {
          waiter.nextCheckAt = this.#nextCheck();
          await this.#check(waiter.request).catch((err: unknown) => {
            if (!this.#closed) this.#onError(err);
          });
        }),
      );
    } finally {
      this.#rechecking = false;
      this.#scheduleRecheck();
    }
  }

  #scheduleSweep(delayMs: number): void {
    if (this.#closed) return;
    this.#sweepTimer = setTimeout(() => void this.#sweep(), delayMs);
  }

  async #sweep(): Promise<void> {
    let delay = this.#sweepMs;
    try {
      const [now, nextExpiry] = (await this.#run(scripts.sweep, [String(SWEEP_BATCH)])) as [number, number];
      if (nextExpiry >= 0) delay = Math.min(delay, Math.max(1, nextExpiry - now + 1));
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    }
    this.#scheduleSweep(delay);
  }
}

function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}
