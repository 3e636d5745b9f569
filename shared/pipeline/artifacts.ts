import { checkKeys, field, kindOf } from './fields.ts';
import type { Node } from './parse.ts';
import type { ProblemCollector } from './problem.ts';
import type { ArtifactsSpec, ArtifactWhen } from './types.ts';

/**
 * `artifacts:` of a job, as GitLab CI writes it: a list of globs, or a map
 * `{ paths: [globs], expire_in: 7 days | 3h | never, when: on_success | on_failure | always }`.
 * Globs are relative to the workspace: absolute paths and `..` segments are rejected here, so a
 * pipeline can never ask for files outside it (the runner checks again on the real files).
 */

export const ARTIFACT_WHEN = ['on_success', 'on_failure', 'always'] as const;
const ARTIFACT_KEYS = ['paths', 'expire_in', 'when'] as const;
/** More patterns than this is a pipeline listing files one by one: use a glob. */
export const MAX_ARTIFACT_PATTERNS = 100;

/** Reads `artifacts:` of job `id`; `undefined` (with problems reported) when it is wrong. */
export function readArtifacts(node: Node, id: string, problems: ProblemCollector): ArtifactsSpec | undefined {
  const where = `in job "${id}"`;
  if (node.kind === 'seq') {
    const paths = readPatterns(node, id, problems);
    return paths && { paths, when: 'on_success' };
  }
  if (node.kind !== 'map') {
    problems.add(
      node.pos,
      `"artifacts" ${where} must be a list of paths or a map with "paths", not ${kindOf(node)}`,
    );
    return undefined;
  }
  checkKeys(node, ARTIFACT_KEYS, `in "artifacts" of job "${id}"`, problems);
  // Every key is checked even when one is wrong, so all problems show in one round.
  const pathsEntry = field(node, 'paths');
  if (!pathsEntry) problems.add(node.pos, `"artifacts" ${where} has no "paths": list the files to keep`);
  const paths = pathsEntry && readPatterns(pathsEntry.value, id, problems);
  let ok = paths !== undefined;
  const spec: ArtifactsSpec = { paths: paths ?? [], when: 'on_success' };
  const when = field(node, 'when');
  if (when) {
    const value = when.value;
    if (value.kind === 'scalar' && (ARTIFACT_WHEN as readonly string[]).includes(value.text)) {
      spec.when = value.text as ArtifactWhen;
    } else {
      problems.add(
        value.pos,
        `"when" in "artifacts" of job "${id}" must be one of ${ARTIFACT_WHEN.join(', ')}, not ${describe(value)}`,
      );
      ok = false;
    }
  }
  const expireIn = field(node, 'expire_in');
  if (expireIn) {
    const value = expireIn.value;
    const ms = value.kind === 'scalar' ? parseExpireIn(value.text) : undefined;
    if (ms === undefined) {
      problems.add(
        value.pos,
        `invalid "expire_in" ${describe(value)} in job "${id}": use a duration such as 3h, 7 days or 2 weeks, or "never"`,
      );
      ok = false;
    } else {
      spec.expireInMs = ms;
    }
  }
  return ok ? spec : undefined;
}

function readPatterns(node: Node, id: string, problems: ProblemCollector): string[] | undefined {
  if (node.kind !== 'seq') {
    problems.add(
      node.pos,
      `"paths" of "artifacts" in job "${id}" must be a list of paths, not ${kindOf(node)}`,
    );
    return undefined;
  }
  if (node.items.length === 0) {
    problems.add(node.pos, `"artifacts" in job "${id}" lists no paths: give at least one`);
    return undefined;
  }
  if (node.items.length > MAX_ARTIFACT_PATTERNS) {
    problems.add(
      node.pos,
      `"artifacts" in job "${id}" lists ${node.items.length} paths: at most ${MAX_ARTIFACT_PATTERNS}, use globs`,
    );
    return undefined;
  }
  const patterns: string[] = [];
  let ok = true;
  for (const item of node.items) {
    if (item.kind !== 'scalar' || typeof item.value !== 'string' || item.text.trim() === '') {
      problems.add(
        item.pos,
        `artifact paths in job "${id}" must be text such as dist/ or "*.log", not ${describe(item)}`,
      );
      ok = false;
      continue;
    }
    const problem = artifactPatternProblem(item.text);
    if (problem !== undefined) {
      problems.add(item.pos, `invalid artifact path "${item.text}" in job "${id}": ${problem}`);
      ok = false;
      continue;
    }
    if (!patterns.includes(item.text)) patterns.push(item.text);
  }
  return ok ? patterns : undefined;
}

/**
 * Why an artifact glob is unsafe or unusable, or `undefined` when it is fine: absolute paths and
 * `..` segments would reach outside the workspace; a backslash or control character reads
 * differently on other systems.
 */
export function artifactPatternProblem(pattern: string): string | undefined {
  if (pattern.startsWith('/') || pattern.startsWith('~') || /^[A-Za-z]:[\\/]/.test(pattern)) {
    return 'absolute paths are not allowed: give a path relative to the workspace';
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f\\]/.test(pattern)) return 'backslashes and control characters are not allowed';
  if (pattern.split('/').includes('..')) return '".." would leave the workspace';
  return undefined;
}

const EXPIRE_UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** Unit words as GitLab accepts them (`30 mins`, `2 hrs`, `1 week`), mapped to one letter. */
const UNIT_WORDS: Record<string, string> = {
  s: 's', sec: 's', secs: 's', second: 's', seconds: 's',
  m: 'm', min: 'm', mins: 'm', minute: 'm', minutes: 'm',
  h: 'h', hr: 'h', hrs: 'h', hour: 'h', hours: 'h',
  d: 'd', day: 'd', days: 'd',
  w: 'w', week: 'w', weeks: 'w',
}; // prettier-ignore

/**
 * Milliseconds in an `expire_in` value, `null` for `never`, `undefined` when the text is not one:
 * `3h`, `7 days`, `1 week 2 days`, `1h30m`, `30 mins`. A bare number has no unit and is rejected.
 */
export function parseExpireIn(text: string): number | null | undefined {
  const trimmed = text.trim().toLowerCase();
  if (trimmed === 'never') return null;
  const segment = /\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*/y;
  let index = 0;
  let total = 0;
  while (index < trimmed.length) {
    segment.lastIndex = index;
    const match = segment.exec(trimmed);
    const unit = match && Object.hasOwn(UNIT_WORDS, match[2]!) ? UNIT_WORDS[match[2]!] : undefined;
    if (!match || unit === undefined) return undefined;
    total += Number(match[1]) * EXPIRE_UNIT_MS[unit]!;
    index = segment.lastIndex;
  }
  return index > 0 && total > 0 && Number.isFinite(total) ? Math.round(total) : undefined;
}

function describe(node: Node): string {
  return node.kind === 'scalar' && node.value !== null ? `"${node.text}"` : kindOf(node);
}
