import { describe, expect, it } from 'vitest';
import {
  evaluateCondition,
  evaluateExpression,
  parseExpression,
  type Expr,
  type PipelineContext,
} from '../../../shared/pipeline/index.ts';

const push: PipelineContext = { branch: 'main', event: 'push' };

function run(text: string, context: PipelineContext = push): boolean {
  const parsed = parseExpression(text);
  if (!parsed.ok) throw new Error(`${parsed.message} at ${parsed.offset}`);
  return evaluateCondition(parsed.expr, context);
}

function error(text: string): { message: string; offset: number } {
  const parsed = parseExpression(text);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(text)} not to parse`);
  return { message: parsed.message, offset: parsed.offset };
}

describe('evaluating conditions', () => {
  it.each([
    ["branch == 'main'", true],
    ['branch == "main"', true],
    ["branch != 'main'", false],
    ["event == 'push' && branch == 'main'", true],
    ["event == 'pull_request' || branch == 'main'", true],
    ["event == 'pull_request' || branch == 'dev'", false],
    ["!(branch == 'main')", false],
    ['true', true],
    ['false', false],
    ['!false', true],
    ['!!true', true],
    ["startsWith(branch, 'ma')", true],
    ["startsWith(branch, 'ain')", false],
    ["endsWith(branch, 'ain')", true],
    ["contains(branch, 'ai')", true],
    ["contains('release/1.2', '/')", true],
    ["contains(branch, 'MAIN')", false],
    ['branch', true],
    ['tag', false],
    ["tag == ''", true],
    ["true == 'true'", true],
    ["${{ branch == 'main' }}", true],
    ["  ${{branch=='main'}}  ", true],
  ])('%s → %s', (text, expected) => {
    expect(run(text)).toBe(expected);
  });

  it('binds ! tighter than ==, == tighter than &&, and && tighter than ||', () => {
    // If || bound tighter: (true || false) && false → false.
    expect(run('true || false && false')).toBe(true);
    expect(run('(true || false) && false')).toBe(false);
    // If == bound looser than &&: 'main' == (true && 'x')... → false; as written it is true.
    expect(run("branch == 'main' && event == 'push'")).toBe(true);
    // `!branch == 'main'` is `(!branch) == 'main'`: false == 'main' → false.
    expect(run("!branch == 'main'")).toBe(false);
    expect(run("!(branch == 'dev')")).toBe(true);
  });

  it('reads missing context fields as the empty string', () => {
    expect(run("branch == ''", { event: 'push' })).toBe(true);
    expect(run("tag == 'v1.0'", { tag: 'v1.0', event: 'push' })).toBe(true);
    expect(run("startsWith(tag, 'v')", { event: 'manual' })).toBe(false);
  });

  it('evaluates to values, not only booleans', () => {
    const parsed = parseExpression('event');
    expect(parsed.ok && evaluateExpression(parsed.expr, { event: 'manual' })).toBe('manual');
  });

  it('builds the tree the grammar describes', () => {
    const parsed = parseExpression("!a == 'x'".replace('a', 'tag'));
    const expected: Expr = {
      type: 'binary',
      operator: '==',
      left: { type: 'not', operand: { type: 'identifier', name: 'tag' } },
      right: { type: 'literal', value: 'x' },
    };
    expect(parsed).toEqual({ ok: true, expr: expected });
  });
});

describe('expression errors', () => {
  it.each([
    ["branch = 'main'", 'unexpected character "=" (use "==")', 7],
    ["branch == 'main' & true", 'unexpected character "&" (use "&&")', 17],
    ['true | false', 'unexpected character "|" (use "||")', 5],
    ['brnch', 'unknown identifier "brnch" (did you mean "branch"?)', 0],
    ['github.ref', 'unknown identifier "github.ref" (use branch, tag, event)', 0],
    ["startWith(branch, 'x')", 'unknown function "startWith" (did you mean "startsWith"?)', 0],
    ['contains(branch)', 'contains() takes 2 arguments but was given 1', 0],
    ["endsWith(branch, 'a', 'b')", 'endsWith() takes 2 arguments but was given 3', 0],
    ["(branch == 'main'", 'expected ")" but found the end of the expression', 17],
    ["branch == 'main')", 'unexpected ")": join conditions with && or ||', 16],
    ["branch == 'main' event == 'push'", 'unexpected "event": join conditions with && or ||', 17],
    ["branch == 'main", "unterminated string: add the closing '", 10],
    ['branch ==', 'expected a value but found the end of the expression', 9],
    ['&& true', 'expected a value but found "&&"', 0],
    ['', 'the expression is empty', 0],
    ['   ', 'the expression is empty', 3],
    ['${{ }}', 'the expression is empty', 4],
    ["${{ branch == 'x' && }}", 'expected a value but found the end of the expression', 21],
    ["$branch == 'main'", 'unexpected character "$"', 0],
    ['event == 1', 'unexpected character "1"', 9],
    ["startsWith(branch 'x')", `expected ")" but found string 'x'`, 18],
  ])('%j: %s at offset %i', (text, message, offset) => {
    expect(error(text)).toEqual({ message, offset });
  });
});

describe('expression safety', () => {
  it.each([
    ['constructor', 'unknown identifier "constructor"'],
    ['__proto__', 'unknown identifier "__proto__"'],
    ['toString', 'unknown identifier "toString"'],
    ['hasOwnProperty', 'unknown identifier "hasOwnProperty"'],
    ["constructor('return process')()", 'unknown function "constructor"'],
    ["toString(branch, 'x')", 'unknown function "toString"'],
    ["__proto__(branch, 'x')", 'unknown function "__proto__"'],
    ['branch.constructor', 'unknown identifier "branch.constructor"'],
    ["contains.constructor('x', 'y')", 'unknown function "contains.constructor"'],
  ])('%s reaches nothing', (text, message) => {
    expect(error(text).message).toContain(message);
  });

  it('treats strings that look like code as plain strings', () => {
    expect(run("branch == 'constructor'", { branch: 'constructor', event: 'push' })).toBe(true);
    expect(run("contains('__proto__', 'proto')")).toBe(true);
  });

  it('does not read context fields other than branch, tag and event', () => {
    const context = { branch: 'main', event: 'push', secret: 'x' } as PipelineContext;
    expect(parseExpression("secret == 'x'").ok).toBe(false);
    expect(run("branch == 'main'", context)).toBe(true);
  });

  it('ignores a hand-built tree naming a function that does not exist', () => {
    const forged = { type: 'call', name: 'constructor', args: [] } as unknown as Expr;
    expect(evaluateExpression(forged, push)).toBe(false);
  });
});
