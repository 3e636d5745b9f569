/**
 * Lua scripts of the Redis quota adapter. Every state change runs inside one script, so it is
 * atomic; the time is the Redis server's, so brokers on different hosts agree on expiries.
 *
 * Keys, all under the prefix `P` (ARGV[1]); a pool name holds no `:` so the keys never collide:
 *   cfg:pools   HASH pool → capacity        cfg:weights HASH tenant → weight
 *   cfg:caps    HASH tenant → hard cap       seq         counter of arrivals
 *   used        HASH pool → tokens in use    tenantUsed  HASH tenant → tokens in use, all pools
 *   tused:<pool> HASH tenant → tokens in use in the pool
 *   running | grants | waitms  HASH "<pool>|<tenant>" → leases held | granted | summed wait ms
 *   l:<id>      HASH lease (pool, tenant, tokens, exp, at)      leases ZSET id → expiry
 *   w:<id>      HASH waiter (pool, tenant, tokens, prio, member, at, leaseMs)
 *   q:<pool>:<tenant>  ZSET member → -priority; member = "<16-digit arrival number>:<tokens>:<id>",
 *                      so equal priorities order by arrival and the grant loop reads only members
 *   qa:<pool>:<tenant> ZSET id → enqueue time (oldest wait)
 *   fair:<pool> ZSET "<arrival number of the tenant's next job>:<tenant>" → tokens in use ÷ weight,
 *               one entry per waiting tenant: its first entry is the next grant (ties: oldest job);
 *               fairm:<pool> HASH tenant → its entry there. So a grant costs O(log tenants)
 *   wd          ZSET id → liveness deadline of a waiter (its broker re-checks it periodically)
 * Grants are published on channel `P .. 'granted'` as "pool|tokens|expiresAt|grantedAt|id".
 */
import { createHash } from 'node:crypto';

const COMMON = /* lua */ `
local P = ARGV[1]

local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v)
  if v then return tonumber(v) end
  return 0
end

local function hadd(key, field, by)
  if redis.call('HINCRBY', key, field, by) <= 0 then redis.call('HDEL', key, field) end
end

local function qkey(pool, tenant)
  return P .. 'q:' .. pool .. ':' .. tenant
end

-- Brings a tenant's entry in the pool's fair-share index in step with its queue head and usage.
local function refreshFair(pool, tenant)
  local fm = P .. 'fairm:' .. pool
  local old = redis.call('HGET', fm, tenant)
  local head = redis.call('ZRANGE', qkey(pool, tenant), 0, 0)
  if #head == 0 then
    if old then
      redis.call('ZREM', P .. 'fair:' .. pool, old)
      redis.call('HDEL', fm, tenant)
    end
    return
  end
  local member = string.sub(head[1], 1, 16) .. ':' .. tenant
  local weight = tonumber(redis.call('HGET', P .. 'cfg:weights', tenant) or '1')
  local score = num(redis.call('HGET', P .. 'tused:' .. pool, tenant)) / weight
  if old and old ~= member then redis.call('ZREM', P .. 'fair:' .. pool, old) end
  redis.call('ZADD', P .. 'fair:' .. pool, score, member)
  if old ~= member then redis.call('HSET', fm, tenant, member) end
end

-- Removes a waiter's records; the caller refreshes the tenant's fair-share entry.
local function removeWaiter(id, pool, tenant, member)
  redis.call('ZREM', qkey(pool, tenant), member)
  redis.call('ZREM', P .. 'qa:' .. pool .. ':' .. tenant, id)
  redis.call('ZREM', P .. 'wd', id)
  redis.call('DEL', P .. 'w:' .. id)
end

-- Returns the lease's tokens; the pool and tenant, or false when there was no lease.
local function freeLease(id)
  redis.call('ZREM', P .. 'leases', id)
  local l = redis.call('HMGET', P .. 'l:' .. id, 'pool', 'tenant', 'tokens')
  if not l[1] then return false end
  local pool, tenant, tokens = l[1], l[2], tonumber(l[3])
  redis.call('DEL', P .. 'l:' .. id)
  hadd(P .. 'used', pool, -tokens)
  hadd(P .. 'tused:' .. pool, tenant, -tokens)
  hadd(P .. 'tenantUsed', tenant, -tokens)
  hadd(P .. 'running', pool .. '|' .. tenant, -1)
  refreshFair(pool, tenant)
  return pool, tenant
end

-- Grants the job; false when its waiter record is gone (its queue member is dropped then).
local function grantOne(pool, c, now)
  local w = redis.call('HMGET', P .. 'w:' .. c.id, 'at', 'leaseMs')
  if not w[1] then
    redis.call('ZREM', qkey(pool, c.tenant), c.member)
    refreshFair(pool, c.tenant)
    return false
  end
  removeWaiter(c.id, pool, c.tenant, c.member)
  local exp = now + tonumber(w[2])
  redis.call('HSET', P .. 'l:' .. c.id, 'pool', pool, 'tenant', c.tenant, 'tokens', c.tokens, 'exp', exp, 'at', now)
  redis.call('ZADD', P .. 'leases', exp, c.id)
  redis.call('HINCRBY', P .. 'used', pool, c.tokens)
  redis.call('HINCRBY', P .. 'tused:' .. pool, c.tenant, c.tokens)
  redis.call('HINCRBY', P .. 'tenantUsed', c.tenant, c.tokens)
  local pt = pool .. '|' .. c.tenant
  redis.call('HINCRBY', P .. 'running', pt, 1)
  redis.call('HINCRBY', P .. 'grants', pt, 1)
  redis.call('HINCRBY', P .. 'waitms', pt, math.max(0, now - tonumber(w[1])))
  refreshFair(pool, c.tenant)
  redis.call('PUBLISH', P .. 'granted',
    pool .. '|' .. c.tokens .. '|' .. string.format('%d', exp) .. '|' .. string.format('%d', now) .. '|' .. c.id)
  return true
end

-- The job the fair-share order picks next in a pool: the first entry of the index (lowest
-- tokens-in-use / weight, then oldest head) whose tenant is under its cap with that job.
local function nextJob(pool, caps)
  local fair = P .. 'fair:' .. pool
  local offset = 0
  while true do
    local batch = redis.call('ZRANGE', fair, offset, offset + 15)
    if #batch == 0 then return nil end
    for _, entry in ipairs(batch) do
      local tenant = string.sub(entry, 18)
      local head = redis.call('ZRANGE', qkey(pool, tenant), 0, 0)[1]
      if not head or string.sub(head, 1, 16) ~= string.sub(entry, 1, 16) then
        refreshFair(pool, tenant) -- out of step (never expected): mend it and start over
        return nextJob(pool, caps)
      end
      local _, tokens, id = string.match(head, '^(%d+):(%d+):(.*)$')
      tokens = tonumber(tokens)
      local cap = caps[tenant]
      if cap == nil or num(redis.call('HGET', P .. 'tenantUsed', tenant)) + tokens <= cap then
        return { tenant = tenant, id = id, member = head, tokens = tokens }
      end
    end
    offset = offset + 16
  end
end

-- Grants in fair-share order while the chosen job fits in the free tokens.
local function grantPool(pool, now)
  local capacity = tonumber(redis.call('HGET', P .. 'cfg:pools', pool) or '0')
  local free = capacity - num(redis.call('HGET', P .. 'used', pool))
  if free <= 0 or redis.call('EXISTS', P .. 'fair:' .. pool) == 0 then return 0 end
  local caps = {}
  local flat = redis.call('HGETALL', P .. 'cfg:caps')
  for i = 1, #flat, 2 do caps[flat[i]] = tonumber(flat[i + 1]) end
  local granted = 0
  while free > 0 do
    local c = nextJob(pool, caps)
    if c == nil or c.tokens > free then break end
    if grantOne(pool, c, now) then
      free = free - c.tokens
      granted = granted + 1
    end
  end
  return granted
end

-- Returns a lease's tokens and grants where that may now be possible: in the lease's pool, and
-- for a capped tenant in every pool (its jobs elsewhere may fit under the cap again).
local function freeAndGrant(id, now)
  local pool, tenant = freeLease(id)
  if not pool then return end
  grantPool(pool, now)
  if redis.call('HEXISTS', P .. 'cfg:caps', tenant) == 1 then
    for _, other in ipairs(redis.call('HKEYS', P .. 'cfg:pools')) do
      if other ~= pool then grantPool(other, now) end
    end
  end
end

local function leaseReply(id, now)
  local l = redis.call('HMGET', P .. 'l:' .. id, 'pool', 'tokens', 'exp', 'at')
  if l[1] and tonumber(l[3]) > now then
    return { 'granted', l[1], tonumber(l[2]), tonumber(l[3]), tonumber(l[4]) }
  end
  return nil
end
`;

const NEEDS_CONFIG = /* lua */ `
if redis.call('EXISTS', P .. 'cfg:pools') == 0 then
  return redis.error_reply('NOCONFIG quota configuration is missing (store restarted or new)')
end
`;

/**
 * ARGV: P, id, tenant, pool, tokens, priority, leaseMs, waiterTtlMs.
 * Returns the live lease of `id`, or enqueues `id` once (a waiter that exists only has its
 * liveness deadline pushed on), runs the grant loop, and returns the lease or the position.
 * → {'granted', pool, tokens, expiresAt, grantedAt} | {'waiting', position}
 */
const ACQUIRE = /* lua */ `${NEEDS_CONFIG}
local id, tenant, pool = ARGV[2], ARGV[3], ARGV[4]
local tokens, priority, leaseMs, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local now = nowMs()
local lease = leaseReply(id, now)
if lease then return lease end
freeAndGrant(id, now)
local w = redis.call('HMGET', P .. 'w:' .. id, 'pool', 'tenant', 'member')
if w[1] and not redis.call('ZSCORE', qkey(w[1], w[2]), w[3]) then
  removeWaiter(id, w[1], w[2], w[3]) -- a record without its queue entry: enqueue afresh
  refreshFair(w[1], w[2])
  w = {}
end
if w[1] then
  redis.call('ZADD', P .. 'wd', now + ttl, id)
else
  local member = string.format('%016d', redis.call('INCR', P .. 'seq')) .. ':' .. tokens .. ':' .. id
  redis.call('HSET', P .. 'w:' .. id, 'pool', pool, 'tenant', tenant, 'tokens', tokens, 'prio', priority,
    'member', member, 'at', now, 'leaseMs', leaseMs)
  redis.call('ZADD', qkey(pool, tenant), -priority, member)
  redis.call('ZADD', P .. 'qa:' .. pool .. ':' .. tenant, now, id)
  redis.call('ZADD', P .. 'wd', now + ttl, id)
  refreshFair(pool, tenant)
  w = { pool, tenant, member }
end
grantPool(w[1], now)
lease = leaseReply(id, now)
if lease then return lease end
return { 'waiting', redis.call('ZRANK', qkey(w[1], w[2]), w[3]) + 1 }
`;

/** ARGV: P, id. Withdraws the waiter or frees the lease of `id`, then grants. Idempotent. */
const RELEASE = /* lua */ `
local id = ARGV[2]
local now = nowMs()
local w = redis.call('HMGET', P .. 'w:' .. id, 'pool', 'tenant', 'member')
if w[1] then
  removeWaiter(id, w[1], w[2], w[3])
  refreshFair(w[1], w[2])
  grantPool(w[1], now)
end
freeAndGrant(id, now)
return 1
`;

/**
 * ARGV: P, id, leaseMs. Pushes a live lease's expiry to now + leaseMs.
 * → {pool, tokens, expiresAt, grantedAt}, or nil when the lease is gone (an expired one is freed).
 */
const RENEW = /* lua */ `
local id = ARGV[2]
local now = nowMs()
local l = redis.call('HMGET', P .. 'l:' .. id, 'pool', 'tokens', 'exp', 'at')
if not l[1] then return false end
if tonumber(l[3]) <= now then
  freeAndGrant(id, now)
  return false
end
local exp = now + tonumber(ARGV[3])
redis.call('HSET', P .. 'l:' .. id, 'exp', exp)
redis.call('ZADD', P .. 'leases', exp, id)
return { l[1], tonumber(l[2]), exp, tonumber(l[4]) }
`;

/**
 * ARGV: P, limit. Frees expired leases, drops waiters whose broker stopped re-checking them, and
 * runs the grant loop of every pool. → {now, next lease expiry or -1}
 */
const SWEEP = /* lua */ `${NEEDS_CONFIG}
local now = nowMs()
local limit = tonumber(ARGV[2])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', now, 'LIMIT', 0, limit)) do
  freeLease(id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'wd', '-inf', now, 'LIMIT', 0, limit)) do
  local w = redis.call('HMGET', P .. 'w:' .. id, 'pool', 'tenant', 'member')
  if w[1] then
    removeWaiter(id, w[1], w[2], w[3])
    refreshFair(w[1], w[2])
  else
    redis.call('ZREM', P .. 'wd', id)
  end
end
for _, pool in ipairs(redis.call('HKEYS', P .. 'cfg:pools')) do grantPool(pool, now) end
local nextLease = redis.call('ZRANGE', P .. 'leases', 0, 0, 'WITHSCORES')
if #nextLease == 0 then return { now, -1 } end
return { now, tonumber(nextLease[2]) }
`;

/** ARGV: P, id. → 1-based position of a waiter, or 0 when `id` is not waiting. */
const POSITION = /* lua */ `
local w = redis.call('HMGET', P .. 'w:' .. ARGV[2], 'pool', 'tenant', 'member')
if not w[1] then return 0 end
local rank = redis.call('ZRANK', qkey(w[1], w[2]), w[3])
if not rank then return 0 end
return rank + 1
`;

/** ARGV: P. → JSON {takenAt, pools: [{pool, capacity, tokensInUse, tenants: [...]}]} */
const SNAPSHOT = /* lua */ `
local now = nowMs()
local seen = {}
local function see(pool, tenant)
  seen[pool] = seen[pool] or {}
  seen[pool][tenant] = true
end
local grants = redis.call('HGETALL', P .. 'grants')
for i = 1, #grants, 2 do
  local sep = string.find(grants[i], '|', 1, true)
  see(string.sub(grants[i], 1, sep - 1), string.sub(grants[i], sep + 1))
end
local pools = {}
local caps = redis.call('HGETALL', P .. 'cfg:pools')
for i = 1, #caps, 2 do
  local pool = caps[i]
  for _, t in ipairs(redis.call('HKEYS', P .. 'fairm:' .. pool)) do see(pool, t) end
  for _, t in ipairs(redis.call('HKEYS', P .. 'tused:' .. pool)) do see(pool, t) end
  local tenants = {}
  for t in pairs(seen[pool] or {}) do
    local pt = pool .. '|' .. t
    local oldest = redis.call('ZRANGE', P .. 'qa:' .. pool .. ':' .. t, 0, 0, 'WITHSCORES')
    local oldestWaitMs = 0
    if #oldest > 0 then oldestWaitMs = math.max(0, now - tonumber(oldest[2])) end
    table.insert(tenants, {
      tenant = t,
      waiting = redis.call('ZCARD', qkey(pool, t)),
      running = num(redis.call('HGET', P .. 'running', pt)),
      tokensInUse = num(redis.call('HGET', P .. 'tused:' .. pool, t)),
      oldestWaitMs = oldestWaitMs,
      grants = num(redis.call('HGET', P .. 'grants', pt)),
      totalWaitMs = num(redis.call('HGET', P .. 'waitms', pt)),
    })
  end
  table.insert(pools, { pool = pool, capacity = tonumber(caps[i + 1]),
    tokensInUse = num(redis.call('HGET', P .. 'used', pool)), tenants = tenants })
end
return cjson.encode({ takenAt = now, pools = pools })
`;

/** ARGV: P, JSON {pools: {name: capacity}, weights: {tenant: weight}, caps: {tenant: tokens}}. */
const CONFIGURE = /* lua */ `
local cfg = cjson.decode(ARGV[2])
redis.call('DEL', P .. 'cfg:pools', P .. 'cfg:weights', P .. 'cfg:caps')
for name, capacity in pairs(cfg.pools) do redis.call('HSET', P .. 'cfg:pools', name, capacity) end
for tenant, weight in pairs(cfg.weights) do redis.call('HSET', P .. 'cfg:weights', tenant, weight) end
for tenant, cap in pairs(cfg.caps) do redis.call('HSET', P .. 'cfg:caps', tenant, cap) end
-- Weights may have changed: re-rank every waiting tenant.
for name in pairs(cfg.pools) do
  for _, tenant in ipairs(redis.call('HKEYS', P .. 'fairm:' .. name)) do refreshFair(name, tenant) end
end
return 1
`;

/** A script body with its SHA1, run with EVALSHA and loaded on first use. */
export interface LuaScript {
  name: string;
  source: string;
  sha: string;
}

function script(name: string, body: string): LuaScript {
  const source = `${COMMON}\n${body}`;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

export const scripts = {
  acquire: script('acquire', ACQUIRE),
  release: script('release', RELEASE),
  renew: script('renew', RENEW),
  sweep: script('sweep', SWEEP),
  position: script('position', POSITION),
  snapshot: script('snapshot', SNAPSHOT),
  configure: script('configure', CONFIGURE),
} as const;
