import type { ContextName, Expr, ExpressionValue, FunctionName } from './expression.ts';
import type { PipelineContext } from './types.ts';

/**
 * Evaluation of parsed `if:` expressions by walking the tree. Names were checked when parsing;
 * here they are read through switches and a table typed by name, never by indexing objects
 * with text from the file.
 */

const FUNCTIONS: Readonly<Record<FunctionName, (a: string, b: string) => boolean>> = {
  startsWith: (a, b) => a.startsWith(b),
  endsWith: (a, b) => a.endsWith(b),
  contains: (a, b) => a.includes(b),
};

/** Evaluates a parsed expression against the build context. */
export function evaluateExpression(expr: Expr, context: PipelineContext): ExpressionValue {
  switch (expr.type) {
    case 'literal':
      return expr.value;
    case 'identifier':
      return readContext(expr.name, context);
    case 'not':
      return !isTruthy(evaluateExpression(expr.operand, context));
    case 'binary': {
      if (expr.operator === '&&') {
        return (
          isTruthy(evaluateExpression(expr.left, context)) &&
          isTruthy(evaluateExpression(expr.right, context))
        );
      }
      if (expr.operator === '||') {
        return (
          isTruthy(evaluateExpression(expr.left, context)) ||
          isTruthy(evaluateExpression(expr.right, context))
        );
      }
      // Values compare as text, so `true == 'true'` holds and nothing depends on JavaScript coercion.
      const equal =
        String(evaluateExpression(expr.left, context)) === String(evaluateExpression(expr.right, context));
      return expr.operator === '==' ? equal : !equal;
    }
    case 'call': {
      const [a, b] = expr.args.map((arg) => String(evaluateExpression(arg, context)));
      // Own-key check as a second lock: a hand-built tree naming `constructor` still reaches nothing.
      return Object.hasOwn(FUNCTIONS, expr.name) && FUNCTIONS[expr.name](a ?? '', b ?? '');
    }
  }
}

function readContext(name: ContextName, context: PipelineContext): string {
  // An explicit switch rather than `context[name]`: only these three fields can ever be read.
  switch (name) {
    case 'branch':
      return context.branch ?? '';
    case 'tag':
      return context.tag ?? '';
    case 'event':
      return context.event;
  }
}

/** `false` and the empty string are false; anything else is true (`if: tag` means "built from a tag"). */
export function isTruthy(value: ExpressionValue): boolean {
  return value !== false && value !== '';
}

/** Whether a job with this `if:` runs in the given context. */
export function evaluateCondition(expr: Expr, context: PipelineContext): boolean {
  return isTruthy(evaluateExpression(expr, context));
}
