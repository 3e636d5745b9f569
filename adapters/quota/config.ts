/**
 * Pure parts shared by every quota adapter: checking the configuration and turning a request into
 * the one pool and token count it waits for.
 */
import { InvalidInputError } from '../../shared/errors.ts';
import { QuotaUnsatisfiableError } from './errors.ts';
import type { AcquireRequest, QuotaConfig } from './port.ts';

/** Tokens per resource class unless configured otherwise. */
export const DEFAULT_RESOURCE_CLASSES: Readonly<Record<string, number>> = { small: 1, medium: 2, large: 4 };

/** Label of the pool that serves requests without labels. */
export const DEFAULT_LABEL = 'default';

export interface NormalizedPool {
  name: string;
  capacity: number;
  labels: ReadonlySet<string>;
}

export interface NormalizedTenant {
  weight: number;
  maxTokens: number | undefined;
}

/** Configuration with every default filled in and every value checked. */
export interface NormalizedQuotaConfig {
  pools: readonly NormalizedPool[];
  resourceClasses: Readonly<Record<string, number>>;
  tenants: ReadonlyMap<string, NormalizedTenant>;
}

/** A request reduced to what the granting logic needs. */
export interface ResolvedRequest {
  leaseId: string;
  tenant: string;
  priority: number;
  pool: string;
  tokens: number;
  leaseMs: number;
}

const isPositiveInteger = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) > 0;

/** Checks and completes a configuration; throws `InvalidInputError` naming the bad field. */
export function normalizeQuotaConfig(config: QuotaConfig): NormalizedQuotaConfig {
  if (config.pools.length === 0) throw new InvalidInputError('quota.pools', 'at least one pool is needed');
  const names = new Set<string>();
  const pools = config.pools.map((pool, i): NormalizedPool => {
    const field = `quota.pools[${i}]`;
    if (!/^[^:|\s]+$/.test(pool.name)) {
      throw new InvalidInputError(
        `${field}.name`,
        `pool name "${pool.name}" must be non-empty without : | or spaces`,
      );
    }
    if (names.has(pool.name))
      throw new InvalidInputError(`${field}.name`, `pool "${pool.name}" is defined twice`);
    names.add(pool.name);
    if (!isPositiveInteger(pool.capacity)) {
      throw new InvalidInputError(
        `${field}.capacity`,
        `capacity of pool "${pool.name}" must be a positive integer`,
      );
    }
    return { name: pool.name, capacity: pool.capacity, labels: new Set([pool.name, ...(pool.labels ?? [])]) };
  });

  const resourceClasses = { ...(config.resourceClasses ?? DEFAULT_RESOURCE_CLASSES) };
  for (const [name, tokens] of Object.entries(resourceClasses)) {
    if (!isPositiveInteger(tokens)) {
      throw new InvalidInputError(
        `quota.resourceClasses.${name}`,
        `tokens of class "${name}" must be a positive integer`,
      );
    }
  }

  const tenants = new Map<string, NormalizedTenant>();
  for (const [name, tenant] of Object.entries(config.tenants ?? {})) {
    const weight = tenant.weight ?? 1;
    if (!Number.isFinite(weight) || weight <= 0) {
      throw new InvalidInputError(
        `quota.tenants.${name}.weight`,
        `weight of tenant "${name}" must be above 0`,
      );
    }
    if (tenant.maxTokens !== undefined && !isPositiveInteger(tenant.maxTokens)) {
      throw new InvalidInputError(
        `quota.tenants.${name}.maxTokens`,
        `hard cap of tenant "${name}" must be a positive integer`,
      );
    }
    tenants.set(name, { weight, maxTokens: tenant.maxTokens });
  }
  return { pools, resourceClasses, tenants };
}

/** Weight and cap of a tenant, defaults for one without settings. */
export function tenantSettings(config: NormalizedQuotaConfig, tenant: string): NormalizedTenant {
  return config.tenants.get(tenant) ?? { weight: 1, maxTokens: undefined };
}

/**
 * Checks the request and picks its pool: the first pool carrying every requested label whose
 * capacity fits the class. Throws `InvalidInputError` for malformed fields and
 * `QuotaUnsatisfiableError` when no wait could ever end in a grant.
 */
export function resolveRequest(config: NormalizedQuotaConfig, request: AcquireRequest): ResolvedRequest {
  if (request.leaseId === '') throw new InvalidInputError('leaseId', 'leaseId must not be empty');
  if (request.tenant === '') throw new InvalidInputError('tenant', 'tenant must not be empty');
  const priority = request.priority ?? 0;
  if (!Number.isFinite(priority)) throw new InvalidInputError('priority', 'priority must be a finite number');
  if (!isPositiveInteger(request.leaseMs)) {
    throw new InvalidInputError('leaseMs', 'leaseMs must be a positive integer number of milliseconds');
  }

  const resourceClass = request.resourceClass ?? 'small';
  const tokens = config.resourceClasses[resourceClass];
  if (tokens === undefined) {
    const known = Object.keys(config.resourceClasses).join(', ');
    throw new QuotaUnsatisfiableError(
      'unknown-class',
      `unknown resource class "${resourceClass}" (known: ${known})`,
    );
  }

  const wanted = request.labels?.length ? request.labels : [DEFAULT_LABEL];
  const matching = config.pools.filter((pool) => wanted.every((label) => pool.labels.has(label)));
  const labelText = wanted.map((l) => `"${l}"`).join(', ');
  if (matching.length === 0) {
    throw new QuotaUnsatisfiableError('no-pool', `no pool carries the labels ${labelText}`);
  }
  const pool = matching.find((p) => p.capacity >= tokens);
  if (pool === undefined) {
    const largest = Math.max(...matching.map((p) => p.capacity));
    throw new QuotaUnsatisfiableError(
      'pool-capacity',
      `resource class "${resourceClass}" needs ${tokens} tokens but the largest pool with the labels ` +
        `${labelText} holds ${largest}`,
    );
  }
  const { maxTokens } = tenantSettings(config, request.tenant);
  if (maxTokens !== undefined && tokens > maxTokens) {
    throw new QuotaUnsatisfiableError(
      'tenant-cap',
      `resource class "${resourceClass}" needs ${tokens} tokens but tenant "${request.tenant}" ` +
        `is capped at ${maxTokens}`,
    );
  }
  return {
    leaseId: request.leaseId,
    tenant: request.tenant,
    priority,
    pool: pool.name,
    tokens,
    leaseMs: request.leaseMs,
  };
}
