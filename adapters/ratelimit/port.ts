/** A token bucket's answer: allowed, or when to retry. */
export interface RateDecision {
  allowed: boolean;
  /** Milliseconds until one token is available again (0 when allowed). */
  retryAfterMs: number;
}

/**
 * Token buckets keyed by a name (e.g. a GitHub organisation). `capacity` tokens refill evenly over
 * one minute; each call takes one. Guarantees: atomic per key (concurrent callers never overdraw a
 * bucket); a bucket untouched for a while costs nothing (it expires).
 */
export interface RateLimiter {
  take(key: string, perMinute: number): Promise<RateDecision>;
  close(): Promise<void>;
}
