/**
 * Client-side rate limiting of Kubernetes API calls, as client-go does it (QPS 20, burst 30 by
 * default): a token bucket refilled at `qps` tokens per second, holding at most `burst`. Callers
 * wait their turn in FIFO order, so a burst of pod launches never floods the API server.
 */
export interface TokenBucketOptions {
  /** Sustained calls per second; `Infinity` (or 0) turns limiting off. */
  qps: number;
  /** Calls allowed at once after an idle period. */
  burst: number;
  /** For tests. @default Date.now */
  now?: () => number;
}

export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;
  readonly #waiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(options: TokenBucketOptions) {
    if (!(options.qps >= 0)) throw new RangeError(`qps must be a number ≥ 0, got ${options.qps}`);
    if (!Number.isInteger(options.burst) || options.burst < 1) {
      throw new RangeError(`burst must be an integer ≥ 1, got ${options.burst}`);
    }
    this.qps = options.qps === 0 ? Infinity : options.qps;
    this.burst = options.burst;
    this.#now = options.now ?? Date.now;
    this.#tokens = options.burst;
    this.#updatedAt = this.#now();
  }

  /** Whether calls are limited at all. */
  get limited(): boolean {
    return Number.isFinite(this.qps);
  }

  /** Resolves when the caller may make one call. */
  take(): Promise<void> {
    if (!this.limited) return Promise.resolve();
    this.#refill();
    if (this.#waiters.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#schedule();
    });
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#updatedAt) / 1000) * this.qps);
    this.#updatedAt = now;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    const missing = Math.max(0, 1 - this.#tokens);
    this.#timer = setTimeout(() => this.#release(), Math.ceil((missing / this.qps) * 1000));
  }

  #release(): void {
    this.#timer = undefined;
    this.#refill();
    while (this.#waiters.length > 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#waiters.shift()?.();
    }
    if (this.#waiters.length > 0) this.#schedule();
  }
}
