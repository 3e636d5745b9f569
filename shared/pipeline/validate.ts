import { checkKeys, field, kindOf, readEnv, readNonEmptyText, readRetries, readTimeout } from './fields.ts';
import { readJob } from './job.ts';
import { findReferences } from './matrix.ts';
import { positionIn, type Node } from './parse.ts';
import { FILE_START, type ProblemCollector } from './problem.ts';
import type { DefaultsSpec, JobSpec, PipelineSpec, TextField } from './spec.ts';
import { didYouMean } from './suggest.ts';

/**
 * Checks the shape of the file, field by field, and reads it into a {@link PipelineSpec}.
 * Checks that look across jobs (needs, cycles, duplicate names) come later, in the compiler.
 */

const TOP_LEVEL_KEYS = ['env', 'defaults', 'jobs'] as const;
const DEFAULTS_KEYS = ['timeout', 'retries', 'image'] as const;

/**
 * Validates the parsed file. Always returns what could be read, so that later checks still run
 * and every problem is reported at once; the caller decides from `problems` whether it is usable.
 */
export function validatePipeline(root: Node | undefined, problems: ProblemCollector): PipelineSpec {
  const spec: PipelineSpec = { env: [], defaults: {}, jobs: [] };
  if (root === undefined || (root.kind === 'scalar' && root.value === null)) {
    problems.add(FILE_START, 'file is empty: define at least one job under "jobs"');
    return spec;
  }
  if (root.kind !== 'map') {
    problems.add(root.pos, `the pipeline must be a map with a "jobs" key, not ${kindOf(root)}`);
    return spec;
  }
  checkKeys(root, TOP_LEVEL_KEYS, 'at top level', problems);

  const env = field(root, 'env');
  if (env) spec.env = readEnv(env.value, 'at top level', problems);
  const defaults = field(root, 'defaults');
  if (defaults) spec.defaults = readDefaults(defaults.value, problems);

  const jobs = field(root, 'jobs');
  const unchecked = new Set<JobSpec>();
  if (!jobs) {
    const present = root.entries.find((e) => e.key === 'jobs');
    problems.add(present?.keyPos ?? root.pos, 'no jobs: define at least one job under "jobs"');
  } else if (jobs.value.kind !== 'map') {
    problems.add(jobs.value.pos, `"jobs" must be a map of job ids to jobs, not ${kindOf(jobs.value)}`);
  } else if (jobs.value.entries.length === 0) {
    problems.add(jobs.value.pos, 'no jobs: define at least one job under "jobs"');
  } else {
    for (const entry of jobs.value.entries) {
      const { job, matrixBroken } = readJob(entry, problems);
      spec.jobs.push(job);
      if (matrixBroken) unchecked.add(job);
    }
  }

  for (const entry of spec.env) checkReferences(entry.value, undefined, 'at top level', problems);
  for (const job of spec.jobs) {
    if (!unchecked.has(job)) checkJobReferences(job, spec.defaults, problems);
  }
  return spec;
}

function readDefaults(node: Node, problems: ProblemCollector): DefaultsSpec {
  if (node.kind !== 'map') {
    problems.add(node.pos, `"defaults" must be a map with timeout, retries or image, not ${kindOf(node)}`);
    return {};
  }
  checkKeys(node, DEFAULTS_KEYS, 'in defaults', problems);
  const defaults: DefaultsSpec = {};
  const timeout = field(node, 'timeout');
  if (timeout) defaults.timeoutMs = readTimeout(timeout.value, problems);
  const retries = field(node, 'retries');
  if (retries) defaults.retries = readRetries(retries.value, problems);
  const image = field(node, 'image');
  if (image) defaults.image = readNonEmptyText(image.value, '"image" in defaults', problems);
  return defaults;
}

/** Every text of a job in which `${{ matrix.<name> }}` is replaced, except an image from `defaults`. */
function substitutedTexts(job: JobSpec): TextField[] {
  const texts: TextField[] = [];
  const add = (text: TextField | undefined) => {
    if (text) texts.push(text);
  };
  add(job.name);
  add(job.image);
  for (const entry of job.env) add(entry.value);
  for (const step of job.steps) {
    add(step.name);
    add(step.run);
    for (const entry of step.env) add(entry.value);
  }
  return texts;
}

function checkJobReferences(job: JobSpec, defaults: DefaultsSpec, problems: ProblemCollector): void {
  const names = job.matrix?.variables.map((v) => v.name);
  const where = `in job "${job.id}"`;
  for (const text of substitutedTexts(job)) checkReferences(text, names, where, problems);
  // A shared `image: node:${{ matrix.node }}` is fine as long as every job using it has that variable.
  if (!job.image && defaults.image) {
    checkReferences(defaults.image, names, `in "image" of defaults, used by job "${job.id}"`, problems);
  }
}

/**
 * Reports each `${{ ... }}` that will not be replaced: a matrix variable the job does not have, or
 * any other expression (left as is, it would reach the shell as a "bad substitution").
 */
function checkReferences(
  text: TextField,
  matrixNames: string[] | undefined,
  where: string,
  problems: ProblemCollector,
): void {
  for (const reference of findReferences(text.text)) {
    const pos = positionIn(text.node, reference.index);
    const name = reference.variable;
    if (name === undefined) {
      problems.add(
        pos,
        `unsupported expression "${reference.raw}" ${where}: only \${{ matrix.<name> }} is replaced`,
      );
    } else if (matrixNames === undefined) {
      const why = where === 'at top level' ? 'top-level env cannot use the matrix' : 'the job has no matrix';
      problems.add(pos, `unknown matrix variable "${name}" ${where}: ${why}`);
    } else if (!matrixNames.includes(name)) {
      const hint = didYouMean(name, matrixNames) || ` (the matrix has ${matrixNames.join(', ')})`;
      problems.add(pos, `unknown matrix variable "${name}" ${where}${hint}`);
    }
  }
}
