import { createHash } from 'node:crypto';

/**
 * Kubernetes names and label values derived from Kiln's identifiers. Runner ids may hold upper
 * case, dots and underscores and be longer than Kubernetes allows, so names are sanitised and,
 * when anything had to change or be cut, suffixed with a hash of the original: two different
 * runner ids never share a pod.
 */

/** Longest DNS-1123 label (pod names of Kiln are labels, so they also fit a hostname). */
export const MAX_NAME_LENGTH = 63;
const HASH_LENGTH = 10;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Name of the pod running `runnerId`: `kiln-<sanitised id>`, with a hash suffix when needed. */
export function podName(runnerId: string): string {
  return dnsLabel('kiln', runnerId);
}

/** Name of the Secret holding a runner's secret values (and marking it as started). */
export function secretName(runnerId: string): string {
  return dnsLabel('kiln-env', runnerId);
}

/** Whether `name` is a valid DNS-1123 label. */
export function isDnsLabel(name: string): boolean {
  return DNS_LABEL.test(name);
}

/** Whether `value` is a valid label value (≤ 63 characters of `[A-Za-z0-9._-]`, alphanumeric ends). */
export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
}

/**
 * `<prefix>-<id>` as a DNS-1123 label: lower case, runs of other characters become `-`. When the
 * result differs from the lower-cased id or is too long, a hash of the exact id is appended so
 * that distinct ids (`A` and `a`, or two long ids sharing a prefix) stay distinct.
 */
function dnsLabel(prefix: string, id: string): string {
  const cleaned = id
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const plain = `${prefix}-${cleaned}`;
  if (cleaned !== '' && cleaned === id && plain.length <= MAX_NAME_LENGTH) return plain;
  const room = MAX_NAME_LENGTH - prefix.length - HASH_LENGTH - 2;
  const head = cleaned.slice(0, room).replace(/-+$/, '');
  return head === '' ? `${prefix}-${hash(id)}` : `${prefix}-${head}-${hash(id)}`;
}

/**
 * A label value for `value`: kept as is when valid; otherwise other characters become `-`, the
 * result is cut, and a hash of the original is appended so distinct values stay distinct.
 */
export function labelValue(value: string): string {
  if (isLabelValue(value)) return value;
  const cleaned = value.replace(/[^A-Za-z0-9._-]+/g, '-');
  const head = cleaned
    .slice(0, MAX_NAME_LENGTH - HASH_LENGTH - 1)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return head === '' ? hash(value) : `${head}-${hash(value)}`;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_LENGTH);
}
