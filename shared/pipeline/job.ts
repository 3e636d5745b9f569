import { readArtifacts } from './artifacts.ts';
import { parseExpression } from './expression.ts';
import { checkKeys, field, kindOf, readEnv, readNonEmptyText, readRetries, readTimeout } from './fields.ts';
import { combinationCount, MATRIX_LIMIT, MATRIX_NAME, type MatrixVariable } from './matrix.ts';
import { positionIn, type MapEntry, type Node } from './parse.ts';
import { readLabels, readPriority, readResourceClass, readSecretNames } from './placement.ts';
import type { ProblemCollector } from './problem.ts';
import type { ConditionSpec, JobSpec, MatrixSpec, NeedSpec, StepSpec } from './spec.ts';

/** Validation of one job and of what it holds: steps, needs, matrix and `if`. */

const JOB_KEYS = [
  'name',
  'needs',
  'steps',
  'env',
  'timeout',
  'retries',
  'image',
  'matrix',
  'if',
  'resources',
  'runs-on',
  'priority',
  'secrets',
  'artifacts',
] as const;
const STEP_KEYS = ['name', 'run', 'env'] as const;

/** Job ids appear in `needs`, keys and URLs: no spaces, nothing a shell or a URL would mangle. */
const JOB_ID = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/** The outcome of reading one job: `matrixBroken` silences reference checks a broken matrix would make noisy. */
export interface ReadJob {
  job: JobSpec;
  matrixBroken: boolean;
}

/** Reads the job `entry` of the `jobs` map, reporting every problem in it. */
export function readJob(entry: MapEntry, problems: ProblemCollector): ReadJob {
  const id = entry.key;
  const where = `in job "${id}"`;
  const job: JobSpec = { id, pos: entry.keyPos, needs: [], steps: [], env: [] };
  if (!JOB_ID.test(id)) {
    problems.add(
      entry.keyPos,
      `invalid job id "${id}": use letters, digits, "_", "." and "-", starting with a letter, digit or "_"`,
    );
  }
  const node = entry.value;
  if (node.kind === 'scalar' && node.value === null) {
    problems.add(entry.keyPos, `job "${id}" has no steps: add a "steps" list with at least one "run"`);
    return { job, matrixBroken: false };
  }
  if (node.kind !== 'map') {
    problems.add(node.pos, `job "${id}" must be a map with "steps", not ${kindOf(node)}`);
    return { job, matrixBroken: false };
  }
  checkKeys(node, JOB_KEYS, where, problems);

  const name = field(node, 'name');
  if (name) job.name = readNonEmptyText(name.value, `"name" ${where}`, problems);
  const needs = field(node, 'needs');
  if (needs) job.needs = readNeeds(needs.value, id, problems);
  const steps = field(node, 'steps');
  if (steps) job.steps = readSteps(steps.value, id, problems);
  else problems.add(entry.keyPos, `job "${id}" has no steps: add a "steps" list with at least one "run"`);
  const env = field(node, 'env');
  if (env) job.env = readEnv(env.value, where, problems);
  const timeout = field(node, 'timeout');
  if (timeout) job.timeoutMs = readTimeout(timeout.value, problems);
  const retries = field(node, 'retries');
  if (retries) job.retries = readRetries(retries.value, problems);
  const image = field(node, 'image');
  if (image) job.image = readNonEmptyText(image.value, `"image" ${where}`, problems);
  const condition = field(node, 'if');
  if (condition) job.condition = readCondition(condition.value, id, problems);
  const resources = field(node, 'resources');
  if (resources) job.resourceClass = readResourceClass(resources.value, id, problems);
  const runsOn = field(node, 'runs-on');
  if (runsOn) job.labels = readLabels(runsOn.value, id, problems);
  const priority = field(node, 'priority');
  if (priority) job.priority = readPriority(priority.value, id, problems);
  const secrets = field(node, 'secrets');
  if (secrets) job.secrets = readSecretNames(secrets.value, id, problems);
  const artifacts = field(node, 'artifacts');
  if (artifacts) job.artifacts = readArtifacts(artifacts.value, id, problems);
  let matrixBroken = false;
  const matrix = field(node, 'matrix');
  if (matrix) {
    job.matrix = readMatrix(matrix.value, id, problems);
    matrixBroken = job.matrix === undefined;
  }
  return { job, matrixBroken };
}

function readNeeds(node: Node, id: string, problems: ProblemCollector): NeedSpec[] {
  const items = node.kind === 'seq' ? node.items : [node];
  const needs: NeedSpec[] = [];
  for (const item of items) {
    if (item.kind !== 'scalar' || item.value === null || item.text === '') {
      const expected = node.kind === 'seq' ? 'job ids' : 'a job id or a list of job ids';
      problems.add(item.pos, `"needs" in job "${id}" must be ${expected}, not ${kindOf(item)}`);
      continue;
    }
    needs.push({ id: item.text, pos: item.pos });
  }
  return needs;
}

function readSteps(node: Node, id: string, problems: ProblemCollector): StepSpec[] {
  if (node.kind !== 'seq') {
    problems.add(node.pos, `"steps" in job "${id}" must be a list of steps, not ${kindOf(node)}`);
    return [];
  }
  if (node.items.length === 0) {
    problems.add(node.pos, `job "${id}" has no steps: add at least one step with "run"`);
    return [];
  }
  const steps: StepSpec[] = [];
  node.items.forEach((item, index) => {
    const step = readStep(item, `step ${index + 1} of job "${id}"`, problems);
    if (step) steps.push(step);
  });
  return steps;
}

function readStep(node: Node, label: string, problems: ProblemCollector): StepSpec | undefined {
  // `- npm test` is shorthand for `- run: npm test`.
  if (node.kind === 'scalar' && typeof node.value === 'string') {
    const run = readNonEmptyText(node, label, problems);
    return run && { run, env: [] };
  }
  if (node.kind === 'scalar' && node.value === null) {
    problems.add(node.pos, `${label} is empty: give it a command to run`);
    return undefined;
  }
  if (node.kind !== 'map') {
    problems.add(node.pos, `${label} must be a command or a map with "run", not ${kindOf(node)}`);
    return undefined;
  }
  checkKeys(node, STEP_KEYS, `in ${label}`, problems);
  const name = field(node, 'name');
  const nameText = name && readNonEmptyText(name.value, `"name" in ${label}`, problems);
  const env = field(node, 'env');
  const envEntries = env ? readEnv(env.value, `in ${label}`, problems) : [];
  const run = field(node, 'run');
  if (!run) {
    problems.add(node.pos, `${label} has no "run": give it the command to run`);
    return undefined;
  }
  const runText = readNonEmptyText(run.value, `"run" in ${label}`, problems);
  if (!runText) return undefined;
  return nameText ? { name: nameText, run: runText, env: envEntries } : { run: runText, env: envEntries };
}

function readCondition(node: Node, id: string, problems: ProblemCollector): ConditionSpec | undefined {
  if (node.kind !== 'scalar') {
    problems.add(node.pos, `invalid "if" in job "${id}": expected an expression, not ${kindOf(node)}`);
    return undefined;
  }
  const parsed = parseExpression(node.text);
  if (!parsed.ok) {
    problems.add(positionIn(node, parsed.offset), `invalid "if" in job "${id}": ${parsed.message}`);
    return undefined;
  }
  return { text: node.text, expr: parsed.expr };
}

function readMatrix(node: Node, id: string, problems: ProblemCollector): MatrixSpec | undefined {
  if (node.kind !== 'map') {
    problems.add(
      node.pos,
      `"matrix" in job "${id}" must be a map of names to lists of values, not ${kindOf(node)}`,
    );
    return undefined;
  }
  if (node.entries.length === 0) {
    problems.add(
      node.pos,
      `"matrix" in job "${id}" is empty: give it at least one name with a list of values`,
    );
    return undefined;
  }
  const variables: MatrixVariable[] = [];
  let broken = false;
  for (const entry of node.entries) {
    const label = `matrix "${entry.key}" of job "${id}"`;
    if (!MATRIX_NAME.test(entry.key)) {
      problems.add(
        entry.keyPos,
        `invalid matrix name "${entry.key}" in job "${id}": use letters, digits, "_" and "-"`,
      );
      broken = true;
      continue;
    }
    const values = readMatrixValues(entry.value, label, problems);
    if (values === undefined) broken = true;
    else variables.push({ name: entry.key, values });
  }
  if (broken) return undefined;
  const count = combinationCount(variables);
  if (count > MATRIX_LIMIT) {
    problems.add(node.pos, `matrix of job "${id}" makes ${count} jobs: at most ${MATRIX_LIMIT} are allowed`);
    return undefined;
  }
  return { variables, pos: node.pos };
}

function readMatrixValues(node: Node, label: string, problems: ProblemCollector): string[] | undefined {
  if (node.kind !== 'seq') {
    problems.add(node.pos, `${label} must be a list of values, not ${kindOf(node)}`);
    return undefined;
  }
  if (node.items.length === 0) {
    problems.add(node.pos, `${label} is empty: list at least one value`);
    return undefined;
  }
  const values: string[] = [];
  let ok = true;
  for (const item of node.items) {
    if (item.kind !== 'scalar' || item.value === null) {
      problems.add(item.pos, `${label} must list strings, numbers or booleans, not ${kindOf(item)}`);
      ok = false;
    } else if (values.includes(item.text)) {
      // Both copies would expand to jobs with the same name and key.
      problems.add(
        item.pos,
        `duplicate value "${item.text}" in ${label}: each combination must be a different job`,
      );
      ok = false;
    } else {
      values.push(item.text);
    }
  }
  return ok ? values : undefined;
}
