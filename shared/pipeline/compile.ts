import { evaluateCondition } from './evaluate.ts';
import { findCycles, topologicalOrder } from './cycle.ts';
import { combinations, findReferences, jobKey, matrixJobName, substituteMatrix } from './matrix.ts';
import { parseYaml } from './parse.ts';
import { ProblemCollector, type Position } from './problem.ts';
import type { EnvEntry, JobSpec, PipelineSpec } from './spec.ts';
import { didYouMean } from './suggest.ts';
import type { CompiledJob, CompiledStep, CompileResult, PipelineContext } from './types.ts';
import { validatePipeline } from './validate.ts';

/** Timeout of a job that sets none, neither itself nor under `defaults`. @default 60m */
export const DEFAULT_TIMEOUT_MS = 60 * 60_000;
/** Infrastructure retries of a job that sets none. @default 2 */
export const DEFAULT_RETRIES = 2;

/** One job of the file after matrix expansion, before it is turned into a {@link CompiledJob}. */
interface Expansion {
  spec: JobSpec;
  key: string;
  name: string;
  combination?: Record<string, string>;
}

/**
 * Compiles a pipeline file: YAML → checked spec → DAG with matrices expanded and `if` evaluated
 * against `context`. Pure and deterministic, so it may run anywhere, the workflow sandbox included.
 * Either every job compiles, or the result lists every problem found, in file order.
 */
export function compilePipeline(source: string, file: string, context: PipelineContext): CompileResult {
  const problems = new ProblemCollector(file);
  const root = parseYaml(source, problems);
  // No tree despite problems: the YAML itself is broken, and checking its guess would only add noise.
  if (root === undefined && problems.count > 0) return { ok: false, problems: problems.sorted() };

  const spec = validatePipeline(root, problems);
  const graph = checkNeeds(spec.jobs, problems);
  const expansions = expand(spec.jobs);
  checkDuplicates(expansions, problems);
  if (problems.count > 0) return { ok: false, problems: problems.sorted() };

  const byId = new Map<string, Expansion[]>(spec.jobs.map((job) => [job.id, []]));
  for (const expansion of expansions) byId.get(expansion.spec.id)!.push(expansion);
  // A need on a matrix job means every one of its expansions.
  const keysOf = (id: string) => byId.get(id)!.map((expansion) => expansion.key);
  const jobs = topologicalOrder(graph).flatMap((id) => {
    const needs = graph.get(id)!.flatMap(keysOf);
    return byId.get(id)!.map((expansion) => compileJob(expansion, spec, needs, context));
  });
  return { ok: true, dag: { file, jobs } };
}

/**
 * Reports needs on unknown jobs or on the job itself, then cycles. Returns the graph of the
 * needs that are sound, with each job listed in file order.
 */
function checkNeeds(jobs: readonly JobSpec[], problems: ProblemCollector): Map<string, string[]> {
  const ids = jobs.map((job) => job.id);
  const graph = new Map<string, string[]>();
  for (const job of jobs) {
    const needs: string[] = [];
    for (const need of job.needs) {
      if (need.id === job.id) {
        problems.add(need.pos, `job "${job.id}" needs itself`);
      } else if (!ids.includes(need.id)) {
        problems.add(need.pos, `job "${job.id}" needs unknown job "${need.id}"${didYouMean(need.id, ids)}`);
      } else if (!needs.includes(need.id)) {
        needs.push(need.id);
      }
    }
    graph.set(job.id, needs);
  }
  for (const cycle of findCycles(graph)) {
    const [first, second] = cycle;
    const job = jobs.find((j) => j.id === first)!;
    const pos = job.needs.find((need) => need.id === second)?.pos ?? job.pos;
    problems.add(pos, `cycle in needs: ${cycle.join(' → ')}`);
  }
  return graph;
}

/** One entry per job to run: a job without a matrix is one, a matrix job one per combination. */
function expand(jobs: readonly JobSpec[]): Expansion[] {
  return jobs.flatMap((spec): Expansion[] => {
    const base = spec.name?.text ?? spec.id;
    if (!spec.matrix) return [{ spec, key: jobKey(spec.id), name: base }];
    // A name that places the values itself (`name: Test on ${{ matrix.os }}`) is kept as written.
    const names = spec.matrix.variables.map((variable) => variable.name);
    const placesValues =
      spec.name !== undefined &&
      findReferences(spec.name.text).some(
        (ref) => ref.variable !== undefined && names.includes(ref.variable),
      );
    return combinations(spec.matrix.variables).map((combination) => ({
      spec,
      key: jobKey(spec.id, combination),
      name: placesValues ? substituteMatrix(base, combination) : matrixJobName(base, combination),
      combination,
    }));
  });
}

/** Names are how people tell jobs apart and keys identify them everywhere: both must be unique. */
function checkDuplicates(expansions: readonly Expansion[], problems: ProblemCollector): void {
  const byName = new Map<string, Expansion>();
  const byKey = new Map<string, Expansion>();
  // Within one matrix, the first clash says it all: the others have the same cause.
  const reported = new Set<string>();
  const report = (spec: JobSpec, what: string, pos: Position, message: string) => {
    if (reported.has(`${spec.id}\n${what}`)) return;
    reported.add(`${spec.id}\n${what}`);
    problems.add(pos, message);
  };
  for (const expansion of expansions) {
    const { spec, name, key } = expansion;
    const sameName = byName.get(name);
    if (sameName === undefined) byName.set(name, expansion);
    else if (sameName.spec === spec) {
      const message = `duplicate job name "${name}" in the matrix of job "${spec.id}": use every matrix value in the name`;
      report(spec, 'name', spec.name?.node.pos ?? spec.pos, message);
    } else {
      const message = `duplicate job name "${name}": job "${sameName.spec.id}" has it too`;
      report(spec, 'name', spec.name?.node.pos ?? spec.pos, message);
    }
    const sameKey = byKey.get(key);
    if (sameKey === undefined) byKey.set(key, expansion);
    else {
      const message = `duplicate job key "${key}": jobs "${sameKey.name}" and "${name}" would both have it`;
      report(spec, 'key', spec.matrix?.pos ?? spec.pos, message);
    }
  }
}

function compileJob(
  expansion: Expansion,
  pipeline: PipelineSpec,
  needs: string[],
  context: PipelineContext,
): CompiledJob {
  const { spec, combination = {} } = expansion;
  const substitute = (text: string) => substituteMatrix(text, combination);
  const image = spec.image ?? pipeline.defaults.image;
  const job: CompiledJob = {
    key: expansion.key,
    name: expansion.name,
    needs: [...needs],
    steps: spec.steps.map((step): CompiledStep => ({
      name: step.name ? substitute(step.name.text) : firstLine(substitute(step.run.text)),
      run: substitute(step.run.text),
      env: envRecord(step.env, substitute),
    })),
    // Job env wins over pipeline env; step env stays on the step for the runner to layer on top.
    env: { ...envRecord(pipeline.env, substitute), ...envRecord(spec.env, substitute) },
    timeoutMs: spec.timeoutMs ?? pipeline.defaults.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: spec.retries ?? pipeline.defaults.retries ?? DEFAULT_RETRIES,
    enabled: spec.condition ? evaluateCondition(spec.condition.expr, context) : true,
    resourceClass: spec.resourceClass ?? 'small',
    labels: spec.labels ?? [],
    ...(spec.priority ? { priority: spec.priority } : {}),
    secrets: spec.secrets ?? [],
  };
  if (image) job.image = substitute(image.text);
  if (expansion.combination) job.matrix = expansion.combination;
  if (spec.condition) job.condition = spec.condition.text;
  if (spec.artifacts) job.artifacts = { ...spec.artifacts, paths: spec.artifacts.paths.map(substitute) };
  return job;
}

/** `Object.fromEntries` defines own properties, so even a variable named `__proto__` is kept as data. */
function envRecord(
  entries: readonly EnvEntry[],
  substitute: (text: string) => string,
): Record<string, string> {
  return Object.fromEntries(entries.map((entry) => [entry.name, substitute(entry.value.text)]));
}

function firstLine(run: string): string {
  return run.trim().split('\n')[0]!.trim();
}
