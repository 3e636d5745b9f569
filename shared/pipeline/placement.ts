import { kindOf } from './fields.ts';
import type { Node } from './parse.ts';
import type { ProblemCollector } from './problem.ts';

/**
 * Readers for where and how urgently a job runs (`resources`, `runs-on`, `priority`) and which
 * secrets it receives (`secrets`). The scheduler decides whether a class or label exists; the
 * file only has to be well-formed.
 */

/** Priorities a job may ask for; `high` jobs of a tenant are granted runners first. */
export const PRIORITIES = ['high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

const NAME = /^[a-z0-9][a-z0-9._-]*$/;
/** Secret names become environment variables. */
const SECRET_NAME = /^[A-Z_][A-Z0-9_]*$/;

/** `resources: medium`: a resource class name. */
export function readResourceClass(node: Node, id: string, problems: ProblemCollector): string | undefined {
  if (node.kind !== 'scalar' || typeof node.value !== 'string' || !NAME.test(node.text)) {
    problems.add(
      node.pos,
      `"resources" in job "${id}" must be a resource class such as small, medium or large, not ${describe(node)}`,
    );
    return undefined;
  }
  return node.text;
}

/** `runs-on: arm` or `runs-on: [linux, gpu]`: labels a runner pool must have. */
export function readLabels(node: Node, id: string, problems: ProblemCollector): string[] | undefined {
  const items = node.kind === 'seq' ? node.items : [node];
  const labels: string[] = [];
  for (const item of items) {
    if (item.kind !== 'scalar' || item.value === null || !NAME.test(item.text)) {
      problems.add(
        item.pos,
        `"runs-on" in job "${id}" must be labels such as linux or gpu, not ${describe(item)}`,
      );
      return undefined;
    }
    if (!labels.includes(item.text)) labels.push(item.text);
  }
  return labels;
}

/** `priority: high | normal | low`. */
export function readPriority(node: Node, id: string, problems: ProblemCollector): Priority | undefined {
  if (node.kind === 'scalar' && (PRIORITIES as readonly string[]).includes(node.text))
    return node.text as Priority;
  problems.add(
    node.pos,
    `"priority" in job "${id}" must be one of ${PRIORITIES.join(', ')}, not ${describe(node)}`,
  );
  return undefined;
}

/** `secrets: [DEPLOY_TOKEN, NPM_TOKEN]`: names of project secrets exposed as environment variables. */
export function readSecretNames(node: Node, id: string, problems: ProblemCollector): string[] | undefined {
  if (node.kind !== 'seq') {
    problems.add(node.pos, `"secrets" in job "${id}" must be a list of secret names, not ${kindOf(node)}`);
    return undefined;
  }
  const names: string[] = [];
  let ok = true;
  for (const item of node.items) {
    if (item.kind !== 'scalar' || !SECRET_NAME.test(item.text)) {
      problems.add(
        item.pos,
        `secret names in job "${id}" must look like environment variables (A-Z, 0-9, _), not ${describe(item)}`,
      );
      ok = false;
    } else if (names.includes(item.text)) {
      problems.add(item.pos, `secret "${item.text}" is listed twice in job "${id}"`);
      ok = false;
    } else {
      names.push(item.text);
    }
  }
  return ok ? names : undefined;
}

function describe(node: Node): string {
  return node.kind === 'scalar' && node.value !== null ? `"${node.text}"` : kindOf(node);
}
