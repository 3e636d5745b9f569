import { didYouMean } from './suggest.ts';

/**
 * The `if:` language: a few operators over the build context, parsed here into a tree that
 * `evaluate.ts` walks. Nothing is ever handed to `eval`, and names resolve only against the fixed
 * lists below (unknown ones are parse errors), so input such as `constructor` or `__proto__`
 * can reach nothing.
 *
 *   expr     := or
 *   or       := and ('||' and)*
 *   and      := equality ('&&' equality)*
 *   equality := unary (('==' | '!=') unary)*
 *   unary    := '!' unary | primary
 *   primary  := string | 'true' | 'false' | identifier | function '(' expr (',' expr)* ')' | '(' expr ')'
 *
 * The whole expression may be wrapped in `${{ ... }}`, as GitHub Actions users tend to write it.
 */

/** A value during evaluation: every identifier is a string, every operator yields a boolean. */
export type ExpressionValue = string | boolean;

/** A parsed `if:` expression. */
export type Expr =
  | { type: 'literal'; value: ExpressionValue }
  | { type: 'identifier'; name: ContextName }
  | { type: 'not'; operand: Expr }
  | { type: 'binary'; operator: '==' | '!=' | '&&' | '||'; left: Expr; right: Expr }
  | { type: 'call'; name: FunctionName; args: Expr[] };

/** Either the expression, or why it is not one and where (offset in the text as written). */
export type ParsedExpression = { ok: true; expr: Expr } | { ok: false; message: string; offset: number };

/** The identifiers an expression may read; a missing one in the context reads as the empty string. */
export const CONTEXT_NAMES = ['branch', 'tag', 'event'] as const;
export type ContextName = (typeof CONTEXT_NAMES)[number];

/** The functions an expression may call, each with two arguments (their meaning is in `evaluate.ts`). */
export const FUNCTION_NAMES = ['startsWith', 'endsWith', 'contains'] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

type Token =
  | { kind: 'string'; value: string; offset: number }
  | { kind: 'word'; value: string; offset: number }
  | { kind: 'op'; value: '==' | '!=' | '&&' | '||' | '!' | '(' | ')' | ','; offset: number }
  | { kind: 'end'; offset: number };

class ExpressionError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'ExpressionError';
    this.offset = offset;
  }
}

const WRAPPED = /^(\s*\$\{\{)([\s\S]*)\}\}\s*$/;

/** Parses an `if:` expression. Unknown identifiers and functions are errors here, not at evaluation. */
export function parseExpression(text: string): ParsedExpression {
  const wrapped = WRAPPED.exec(text);
  const body = wrapped ? wrapped[2]! : text;
  const start = wrapped ? wrapped[1]!.length : 0;
  try {
    const parser = new Parser(tokenize(body, start));
    return { ok: true, expr: parser.parseAll() };
  } catch (error) {
    if (error instanceof ExpressionError) return { ok: false, message: error.message, offset: error.offset };
    throw error;
  }
}

function tokenize(text: string, base: number): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i]!;
    const offset = base + i;
    if (/\s/.test(char)) {
      i++;
    } else if (char === "'" || char === '"') {
      const close = text.indexOf(char, i + 1);
      if (close < 0) throw new ExpressionError(`unterminated string: add the closing ${char}`, offset);
      tokens.push({ kind: 'string', value: text.slice(i + 1, close), offset });
      i = close + 1;
    } else if (/[A-Za-z_]/.test(char)) {
      // Dots are part of a word so that `github.ref` is reported as one unknown name.
      const word = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i))![0];
      tokens.push({ kind: 'word', value: word, offset });
      i += word.length;
    } else {
      const two = text.slice(i, i + 2);
      if (two === '==' || two === '!=' || two === '&&' || two === '||') {
        tokens.push({ kind: 'op', value: two, offset });
        i += 2;
      } else if (char === '!' || char === '(' || char === ')' || char === ',') {
        tokens.push({ kind: 'op', value: char, offset });
        i++;
      } else {
        throw new ExpressionError(unexpectedCharacter(char), offset);
      }
    }
  }
  tokens.push({ kind: 'end', offset: base + text.length });
  return tokens;
}

function unexpectedCharacter(char: string): string {
  const hints: Record<string, string> = { '=': '==', '&': '&&', '|': '||' };
  const hint = Object.hasOwn(hints, char) ? ` (use "${hints[char]}")` : '';
  return `unexpected character "${char}"${hint}`;
}

class Parser {
  readonly #tokens: Token[];
  #index = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  parseAll(): Expr {
    if (this.#peek().kind === 'end')
      throw new ExpressionError('the expression is empty', this.#peek().offset);
    const expr = this.#or();
    const next = this.#peek();
    if (next.kind !== 'end') {
      // A value right after a complete expression: most likely a forgotten operator.
      throw new ExpressionError(`unexpected ${describe(next)}: join conditions with && or ||`, next.offset);
    }
    return expr;
  }

  #peek(): Token {
    return this.#tokens[this.#index]!;
  }

  #take(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#index++;
    return token;
  }

  #isOp(value: string): boolean {
    const token = this.#peek();
    return token.kind === 'op' && token.value === value;
  }

  #expect(value: string): void {
    if (!this.#isOp(value)) {
      const token = this.#peek();
      throw new ExpressionError(`expected "${value}" but found ${describe(token)}`, token.offset);
    }
    this.#take();
  }

  #or(): Expr {
    let left = this.#and();
    while (this.#isOp('||')) {
      this.#take();
      left = { type: 'binary', operator: '||', left, right: this.#and() };
    }
    return left;
  }

  #and(): Expr {
    let left = this.#equality();
    while (this.#isOp('&&')) {
      this.#take();
      left = { type: 'binary', operator: '&&', left, right: this.#equality() };
    }
    return left;
  }

  #equality(): Expr {
    let left = this.#unary();
    for (;;) {
      const token = this.#peek();
      if (token.kind !== 'op' || (token.value !== '==' && token.value !== '!=')) return left;
      this.#take();
      left = { type: 'binary', operator: token.value, left, right: this.#unary() };
    }
  }

  #unary(): Expr {
    if (this.#isOp('!')) {
      this.#take();
      return { type: 'not', operand: this.#unary() };
    }
    return this.#primary();
  }

  #primary(): Expr {
    const token = this.#take();
    if (token.kind === 'string') return { type: 'literal', value: token.value };
    if (token.kind === 'op' && token.value === '(') {
      const inner = this.#or();
      this.#expect(')');
      return inner;
    }
    if (token.kind === 'word') {
      if (token.value === 'true' || token.value === 'false')
        return { type: 'literal', value: token.value === 'true' };
      if (this.#isOp('(')) return this.#call(token.value, token.offset);
      const name = CONTEXT_NAMES.find((known) => known === token.value);
      if (name === undefined) {
        const hint = didYouMean(token.value, CONTEXT_NAMES) || ` (use ${CONTEXT_NAMES.join(', ')})`;
        throw new ExpressionError(`unknown identifier "${token.value}"${hint}`, token.offset);
      }
      return { type: 'identifier', name };
    }
    throw new ExpressionError(`expected a value but found ${describe(token)}`, token.offset);
  }

  #call(word: string, offset: number): Expr {
    const name = FUNCTION_NAMES.find((known) => known === word);
    if (name === undefined) {
      const hint = didYouMean(word, FUNCTION_NAMES) || ` (use ${FUNCTION_NAMES.join(', ')})`;
      throw new ExpressionError(`unknown function "${word}"${hint}`, offset);
    }
    this.#expect('(');
    const args: Expr[] = [];
    if (!this.#isOp(')')) {
      args.push(this.#or());
      while (this.#isOp(',')) {
        this.#take();
        args.push(this.#or());
      }
    }
    this.#expect(')');
    if (args.length !== 2) {
      throw new ExpressionError(`${name}() takes 2 arguments but was given ${args.length}`, offset);
    }
    return { type: 'call', name, args };
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'the end of the expression';
    case 'string':
      return `string '${token.value}'`;
    default:
      return `"${token.value}"`;
  }
}
