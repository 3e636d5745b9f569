/**
 * The pipeline file: parse, validate and compile `.ci.yaml` into the DAG the build workflow runs.
 * Everything here is pure (no I/O, no Node built-ins), so it also runs in the workflow sandbox.
 */
export type * from './types.ts';
export { compilePipeline, DEFAULT_RETRIES, DEFAULT_TIMEOUT_MS } from './compile.ts';
export { formatProblem, missingPipelineProblem } from './problem.ts';
export { parseDuration } from './duration.ts';
export {
  CONTEXT_NAMES,
  FUNCTION_NAMES,
  parseExpression,
  type Expr,
  type ExpressionValue,
  type ParsedExpression,
} from './expression.ts';
export { evaluateCondition, evaluateExpression, isTruthy } from './evaluate.ts';
export { MATRIX_LIMIT } from './matrix.ts';
export { MAX_RETRIES } from './fields.ts';
