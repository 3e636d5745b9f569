import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { ProjectionStore } from './port.ts';
import { SqlProjectionStore } from './sql-store.ts';

export interface PgStoreOptions {
  /** `postgres://user:password@host:port/database`. */
  url: string;
  /**
   * Connections kept open at most.
   * @default 10
   */
  maxConnections?: number;
  /**
   * How long to wait for a connection before the call fails with `StoreUnavailableError`.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * Server-side limit on one statement, so a stuck query never blocks a caller forever.
   * @default 30000
   */
  statementTimeoutMs?: number;
}

/** Node errors of a socket that could not connect or was cut. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);
/** SQLSTATEs meaning the server is going away, starting up, or out of connections. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** Messages `pg` uses for a lost or unobtainable connection (these errors carry no code). */
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
  'connection is closed',
];

/** True when `err` says PostgreSQL cannot be reached, as opposed to a query that was wrong. */
export function isPgUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof AggregateError && err.errors.some(isPgUnavailable)) return true;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08'))
  ) {
    return true;
  }
  return (
    UNAVAILABLE_MESSAGES.some((m) => err.message.includes(m)) ||
    (err.cause !== undefined && isPgUnavailable(err.cause))
  );
}

/**
 * Production adapter: PostgreSQL through a `pg` pool. Connections are opened lazily, so creating
 * the store never fails; the first call to a database that is down throws `StoreUnavailableError`.
 */
export function createPgProjectionStore(options: PgStoreOptions): ProjectionStore {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
  });
  // An idle connection cut by a server restart is dropped by the pool and reported here; without a
  // listener it would crash the process. The next call opens a fresh connection (or fails cleanly).
  pool.on('error', () => {});
  // A connection that is checked out when the server goes away (shutdown, failover) emits its own
  // 'error' event, outside any query; unheard it would crash the process. The query in flight, or
  // the next one, fails and is reported as StoreUnavailableError instead.
  pool.on('connect', (client) => client.on('error', () => {}));
  return new SqlProjectionStore({
    db: new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) }),
    name: `PostgreSQL at ${describeUrl(options.url)}`,
    isUnavailable: isPgUnavailable,
  });
}

/** `host:port/database`, without credentials, for messages. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}
