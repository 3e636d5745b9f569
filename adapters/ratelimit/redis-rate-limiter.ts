import { Redis } from 'ioredis';
import type { RateDecision, RateLimiter } from './port.ts';

/**
 * Token bucket in one Lua script, on the Redis server's clock, so every API replica shares the
 * same buckets and concurrent requests never overdraw one. KEYS[1] bucket; ARGV[1] per minute.
 */
const TAKE = `
local capacity = tonumber(ARGV[1])
local per_ms = capacity / 60000
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + (now - at) * per_ms)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], 120000)
return {allowed, retry}
`;

export function createRedisRateLimiter(options: { url: string; keyPrefix?: string }): RateLimiter {
  const redis = new Redis(options.url, {
    maxRetriesPerRequest: 2,
    enableOfflineQueue: false,
    lazyConnect: false,
  });
  redis.on('error', () => {}); // reported through the failing calls instead
  const prefix = options.keyPrefix ?? 'kiln:ratelimit:';
  return {
    async take(key: string, perMinute: number): Promise<RateDecision> {
      const [allowed, retry] = (await redis.eval(TAKE, 1, `${prefix}${key}`, String(perMinute))) as [
        number,
        number,
      ];
      return { allowed: allowed === 1, retryAfterMs: retry };
    },
    async close() {
      redis.disconnect();
    },
  };
}
