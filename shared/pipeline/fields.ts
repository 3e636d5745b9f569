import { didYouMean } from './suggest.ts';
import { parseDuration } from './duration.ts';
import type { MapEntry, MapNode, Node } from './parse.ts';
import type { ProblemCollector } from './problem.ts';
import type { EnvEntry, TextField } from './spec.ts';

/**
 * Readers for the values that appear in several places of a pipeline (text, env, timeout,
 * retries), each reporting a problem and returning `undefined` when the value is wrong.
 */

/** Keys people bring from GitHub Actions, with what to write in Kiln instead. */
const FOREIGN_KEYS: Record<string, string> = {
  container: 'choose the container with "image"',
  uses: 'steps run shell commands with "run"',
  with: 'steps run shell commands with "run"',
  strategy: 'put "matrix" directly under the job',
  'timeout-minutes': 'use "timeout", such as timeout: 20m',
  'depends-on': 'use "needs"',
  depends_on: 'use "needs"',
};

/** Reports every key of `map` that is not in `allowed`, with a hint when one is close. */
export function checkKeys(
  map: MapNode,
  allowed: readonly string[],
  where: string,
  problems: ProblemCollector,
): void {
  for (const entry of map.entries) {
    if (allowed.includes(entry.key)) continue;
    const foreign = Object.hasOwn(FOREIGN_KEYS, entry.key) ? ` (${FOREIGN_KEYS[entry.key]})` : undefined;
    problems.add(
      entry.keyPos,
      `unknown key "${entry.key}" ${where}${foreign ?? didYouMean(entry.key, allowed)}`,
    );
  }
}

/** The entry for `key`, or `undefined` when absent or left empty (`key:` alone means "not set"). */
export function field(map: MapNode, key: string): MapEntry | undefined {
  const entry = map.entries.find((e) => e.key === key);
  if (!entry || (entry.value.kind === 'scalar' && entry.value.value === null)) return undefined;
  return entry;
}

/** What kind of YAML value a node is, for messages such as `must be text, not a list`. */
export function kindOf(node: Node): string {
  if (node.kind === 'map') return 'a map';
  if (node.kind === 'seq') return 'a list';
  if (node.value === null) return 'empty';
  return typeof node.value === 'string' ? 'text' : `a ${typeof node.value}`;
}

/** A string, number or boolean as text. */
export function readText(node: Node, label: string, problems: ProblemCollector): TextField | undefined {
  if (node.kind !== 'scalar' || node.value === null) {
    problems.add(node.pos, `${label} must be text, not ${kindOf(node)}`);
    return undefined;
  }
  return { text: node.text, node };
}

/** Like {@link readText}, but an empty string is a problem too. */
export function readNonEmptyText(
  node: Node,
  label: string,
  problems: ProblemCollector,
): TextField | undefined {
  const text = readText(node, label, problems);
  if (text && text.text.trim() === '') {
    problems.add(node.pos, `${label} is empty`);
    return undefined;
  }
  return text;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** An `env:` map; values may be strings, numbers or booleans and become strings. */
export function readEnv(node: Node, where: string, problems: ProblemCollector): EnvEntry[] {
  if (node.kind !== 'map') {
    problems.add(node.pos, `"env" ${where} must be a map of names to values, not ${kindOf(node)}`);
    return [];
  }
  const env: EnvEntry[] = [];
  for (const entry of node.entries) {
    if (!ENV_NAME.test(entry.key)) {
      problems.add(
        entry.keyPos,
        `invalid env name "${entry.key}" ${where}: use letters, digits and "_", not starting with a digit`,
      );
      continue;
    }
    const value = entry.value;
    if (value.kind !== 'scalar') {
      problems.add(
        value.pos,
        `env "${entry.key}" ${where} must be a string, number or boolean, not ${kindOf(value)}`,
      );
      continue;
    }
    // `NAME:` with no value is an empty variable, as in a shell's `NAME=`.
    env.push({ name: entry.key, value: { text: value.text, node: value } });
  }
  return env;
}

/** A `timeout:` value in milliseconds. */
export function readTimeout(node: Node, problems: ProblemCollector): number | undefined {
  const text = node.kind === 'scalar' ? node.text : '';
  const ms = node.kind === 'scalar' ? parseDuration(text) : undefined;
  if (ms === undefined) {
    const shown = node.kind === 'scalar' ? `"${text}"` : `(${kindOf(node)})`;
    problems.add(
      node.pos,
      `invalid timeout ${shown}: use a number with ms, s, m or h, such as 90s, 20m or 1h`,
    );
    return undefined;
  }
  if (ms <= 0) {
    problems.add(node.pos, `invalid timeout "${text}": it must be longer than zero`);
    return undefined;
  }
  return ms;
}

/** Infrastructure retries: a whole number from 0 to 10 (more would hide a broken runner for hours). */
export const MAX_RETRIES = 10;

/** A `retries:` value. */
export function readRetries(node: Node, problems: ProblemCollector): number | undefined {
  const text = node.kind === 'scalar' ? node.text.trim() : '';
  if (node.kind === 'scalar' && /^\d+$/.test(text) && Number(text) <= MAX_RETRIES) return Number(text);
  const shown = node.kind === 'scalar' ? `"${node.text}"` : `(${kindOf(node)})`;
  problems.add(node.pos, `invalid retries ${shown}: use a whole number from 0 to ${MAX_RETRIES}`);
  return undefined;
}
