import type { Expr } from './expression.ts';
import type { MatrixVariable } from './matrix.ts';
import type { ScalarNode } from './parse.ts';
import type { Priority } from './placement.ts';
import type { ArtifactsSpec } from './types.ts';
import type { Position } from './problem.ts';

/**
 * The pipeline after validation and before compilation: the file's meaning, with positions kept
 * so that checks across jobs (needs, cycles, duplicates) can still point at the right place.
 */

/** A text value together with the node it came from, to locate problems found inside it. */
export interface TextField {
  text: string;
  node: ScalarNode;
}

export interface EnvEntry {
  name: string;
  value: TextField;
}

export interface StepSpec {
  name?: TextField;
  run: TextField;
  env: EnvEntry[];
}

/** One entry of `needs`: a job id as written, before matrix expansion. */
export interface NeedSpec {
  id: string;
  pos: Position;
}

export interface MatrixSpec {
  variables: MatrixVariable[];
  pos: Position;
}

export interface ConditionSpec {
  /** The expression as written. */
  text: string;
  expr: Expr;
}

export interface JobSpec {
  id: string;
  /** Where the job id is written. */
  pos: Position;
  name?: TextField;
  needs: NeedSpec[];
  steps: StepSpec[];
  env: EnvEntry[];
  timeoutMs?: number;
  retries?: number;
  image?: TextField;
  matrix?: MatrixSpec;
  condition?: ConditionSpec;
  resourceClass?: string;
  labels?: string[];
  priority?: Priority;
  secrets?: string[];
  artifacts?: ArtifactsSpec;
}

export interface DefaultsSpec {
  timeoutMs?: number;
  retries?: number;
  image?: TextField;
}

export interface PipelineSpec {
  env: EnvEntry[];
  defaults: DefaultsSpec;
  jobs: JobSpec[];
}
