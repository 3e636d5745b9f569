/**
 * The quota port: fair-share tokens that a job holds while its runner runs.
 *
 * Lifecycle of one request, keyed by its `leaseId` (the runner id, so a worker retry of the same
 * attempt finds its earlier request):
 *
 * 1. `acquire` resolves the resource class and labels to one pool. A request that can never be
 *    granted rejects at once with `QuotaUnsatisfiableError` (`QUOTA_UNSATISFIABLE`).
 * 2. Otherwise it is granted at once when the fair-share order allows, or waits (`onQueued` is
 *    called with its position) until tokens free up. Waiting is event-driven: no caller polls.
 * 3. The grant is a `Lease` that expires `leaseMs` after the grant unless `renew` (the runner's
 *    heartbeat) pushes the expiry on. An expired lease returns its tokens by itself, so a crashed
 *    worker never leaks quota for longer than the lease time.
 * 4. `release` returns the tokens (or withdraws a waiting request); it is safe to call any number
 *    of times, for a lease that expired, or for an id that was never seen.
 *
 * Guarantees, for every adapter:
 * - The tokens in use in a pool never exceed its capacity, and a tenant's tokens in use never
 *   exceed its hard cap.
 * - A lease id is granted at most once while its lease lives: acquiring again with the same id
 *   (concurrently or later) yields the same lease, never a second grant.
 * - When tokens free up in a pool, the next grant goes to the waiting tenant with the lowest
 *   tokens-in-use ÷ weight in that pool (ties: the tenant whose next job waited longest); within
 *   a tenant, by priority (higher first), then first come, first served. When the chosen job
 *   needs more tokens than are free, the pool keeps them for it rather than letting smaller jobs
 *   overtake it forever.
 */

/** A pool of interchangeable capacity (a node group, a runner fleet). */
export interface PoolConfig {
  /** Unique name; also one of the pool's labels. No `:` or `|`. */
  name: string;
  /** Capacity in tokens (a positive integer). */
  capacity: number;
  /**
   * Labels a request's `runs-on` may select, besides the pool's name.
   * @default []
   */
  labels?: readonly string[];
}

/** Fair-share settings of one tenant (an organisation or team). */
export interface TenantConfig {
  /**
   * Share of contended capacity relative to other tenants.
   * @default 1
   */
  weight?: number;
  /** Hard cap on the tokens the tenant holds at once, over all pools. Unset: no cap. */
  maxTokens?: number;
}

/** Configuration shared by every broker that uses the same quota store. */
export interface QuotaConfig {
  /**
   * Pools, in the order requests are matched against them. A request with no labels selects the
   * pool labelled `default` (the pool named `default` carries that label).
   */
  pools: readonly PoolConfig[];
  /**
   * Tokens per resource class.
   * @default { small: 1, medium: 2, large: 4 }
   */
  resourceClasses?: Readonly<Record<string, number>>;
  /**
   * Tenants with settings; any other tenant has weight 1 and no cap.
   * @default {}
   */
  tenants?: Readonly<Record<string, TenantConfig>>;
}

/** What a job asks for. */
export interface AcquireRequest {
  /** Idempotency key of the request and id of its lease, e.g. the runner id. */
  leaseId: string;
  /** Who is charged for the tokens. */
  tenant: string;
  /**
   * Order among the tenant's own waiting jobs: higher first.
   * @default 0
   */
  priority?: number;
  /**
   * Resource class, converted to tokens by `QuotaConfig.resourceClasses`.
   * @default 'small'
   */
  resourceClass?: string;
  /**
   * The job's `runs-on` labels: the first pool (in configuration order) carrying all of them
   * serves the request.
   * @default [] (the `default` pool)
   */
  labels?: readonly string[];
  /** Lease time in ms: the lease expires this long after its grant or its last renewal. */
  leaseMs: number;
}

export interface AcquireOptions {
  /** Aborting withdraws the waiting request and rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Called once when the request starts waiting, with its 1-based position among the waiting jobs
   * of the same tenant in the same pool (other tenants' jobs interleave by fair share).
   */
  onQueued?: (position: number) => void;
}

/** Granted quota. */
export interface Lease {
  leaseId: string;
  pool: string;
  tokens: number;
  /** Milliseconds since the epoch after which the lease is no longer held. */
  expiresAt: number;
  /** Milliseconds since the epoch when the lease was granted. */
  grantedAt: number;
}

/** Usage of one tenant in one pool. Counters restart from 0 when the store loses its state. */
export interface TenantUsage {
  tenant: string;
  /** Jobs waiting. */
  waiting: number;
  /** Leases held. */
  running: number;
  tokensInUse: number;
  /** How long the longest-waiting job has waited, 0 when none waits. */
  oldestWaitMs: number;
  /** Counter: leases granted. */
  grants: number;
  /** Counter: summed wait of all granted leases, in ms. */
  totalWaitMs: number;
}

/** Usage of one pool: its totals plus one entry per tenant that waits, runs, or was granted. */
export interface PoolUsage extends Omit<TenantUsage, 'tenant'> {
  pool: string;
  capacity: number;
  tenants: TenantUsage[];
}

/** Point-in-time view for `GET /queue` and the metrics endpoint. */
export interface QuotaSnapshot {
  /** Milliseconds since the epoch. */
  takenAt: number;
  pools: PoolUsage[];
}

/** Fair-share quota tokens (see the module comment for lifecycle and guarantees). */
export interface QuotaBroker {
  /**
   * Resolves with the lease once granted. Rejects at once with `QuotaUnsatisfiableError` when the
   * request can never be granted, with the signal's reason when aborted, and with
   * `QuotaBrokerClosedError` when the broker closes first.
   */
  acquire(request: AcquireRequest, options?: AcquireOptions): Promise<Lease>;
  /**
   * Heartbeat: the lease now expires `leaseMs` from now. Rejects with `LeaseLostError` when the
   * lease expired, was released or is unknown; the holder then acquires again.
   */
  renew(leaseId: string, leaseMs: number): Promise<Lease>;
  /** Returns the lease's tokens, or withdraws the waiting request. Idempotent. */
  release(leaseId: string): Promise<void>;
  /** 1-based position of a waiting request (as for `onQueued`); `undefined` when it is not waiting. */
  position(leaseId: string): Promise<number | undefined>;
  snapshot(): Promise<QuotaSnapshot>;
  /**
   * Stops this broker's timers and rejects its waiting calls with `QuotaBrokerClosedError`. Leases
   * are not released: they expire (as after a crash) unless another broker on the same store
   * releases them. A shared store keeps the waiting requests queued a little while, so a retry on
   * another worker with the same lease id keeps its place.
   */
  close(): Promise<void>;
}
