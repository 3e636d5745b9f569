/**
 * Text forms of the quota settings, as environment variables carry them:
 *
 * - pools:   `default=20; large=8:large,x86; gpu=2:gpu` (name=capacity[:labels])
 * - classes: `small=1; medium=2; large=4` (name=tokens)
 * - tenants: `acme=2; globex=1/16` (name=weight[/hard cap in tokens])
 *
 * Each parser returns the value or throws an Error whose message says what is wrong where.
 */

export interface PoolSetting {
  name: string;
  capacity: number;
  labels: string[];
}

export interface TenantSetting {
  weight: number;
  maxTokens?: number;
}

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

function entries(text: string): [string, string][] {
  return text
    .split(';')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq < 0 ? part : part.slice(0, eq).trim();
      if (eq < 0 || !NAME.test(name)) throw new Error(`"${part}": expected name=value with a lowercase name`);
      return [name, part.slice(eq + 1).trim()];
    });
}

function positive(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new Error(`${what} must be a positive integer, not "${text}"`);
  return Number(text);
}

export function parsePools(text: string): PoolSetting[] {
  const pools = entries(text).map(([name, value]) => {
    const [capacity = '', labels = ''] = value.split(':');
    const labelList = labels
      .split(',')
      .map((l) => l.trim())
      .filter(Boolean);
    for (const label of labelList)
      if (!NAME.test(label)) throw new Error(`pool "${name}": bad label "${label}"`);
    return { name, capacity: positive(capacity, `capacity of pool "${name}"`), labels: labelList };
  });
  if (pools.length === 0) throw new Error('at least one pool is needed, e.g. default=20');
  return pools;
}

export function parseClasses(text: string): Record<string, number> {
  return Object.fromEntries(
    entries(text).map(([name, value]) => [name, positive(value, `tokens of class "${name}"`)]),
  );
}

export function parseTenants(text: string): Record<string, TenantSetting> {
  return Object.fromEntries(
    entries(text).map(([name, value]) => {
      const [weight = '', cap] = value.split('/');
      const setting: TenantSetting = { weight: positive(weight, `weight of tenant "${name}"`) };
      if (cap !== undefined) setting.maxTokens = positive(cap, `cap of tenant "${name}"`);
      return [name, setting];
    }),
  );
}
