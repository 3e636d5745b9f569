/**
 * Matrix expansion: one job per combination of values, with `${{ matrix.<name> }}` replaced in
 * the job's text.
 */

/** Most jobs one matrix may produce: past this a typo (an extra list level) is likelier than intent. */
export const MATRIX_LIMIT = 256;

/** One matrix variable and its values, as text. */
export interface MatrixVariable {
  name: string;
  values: string[];
}

/** Names allowed for matrix variables (and so inside `${{ matrix.<name> }}`). */
export const MATRIX_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** How many jobs a matrix produces. */
export function combinationCount(variables: readonly MatrixVariable[]): number {
  return variables.reduce((count, variable) => count * variable.values.length, 1);
}

/**
 * Every combination, the first variable varying slowest: `{node: [20, 22], os: [linux, mac]}`
 * gives node=20/os=linux, node=20/os=mac, node=22/os=linux, node=22/os=mac.
 */
export function combinations(variables: readonly MatrixVariable[]): Record<string, string>[] {
  let result: Record<string, string>[] = [{}];
  for (const { name, values } of variables) {
    result = result.flatMap((partial) => values.map((value) => ({ ...partial, [name]: value })));
  }
  return result;
}

/**
 * A job key: lower case, characters outside `[a-z0-9._-]` replaced by `-`, runs of `-`
 * collapsed, so it is safe in URLs, file names and Temporal workflow ids.
 */
export function jobKey(id: string, combination?: Record<string, string>): string {
  const parts = [id];
  for (const [name, value] of Object.entries(combination ?? {})) parts.push(name, value);
  return parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9._-]/g, '-')
    .replace(/-+/g, '-')
    .replace(/-$/, '');
}

/** `test (node=20, os=linux)`: the job's name followed by its combination. */
export function matrixJobName(name: string, combination: Record<string, string>): string {
  const values = Object.entries(combination).map(([key, value]) => `${key}=${value}`);
  return `${name} (${values.join(', ')})`;
}

/** One `${{ ... }}` found in a text; `variable` is set when it is a `matrix.<name>` reference. */
export interface Reference {
  /** Offset of `${{` in the text. */
  index: number;
  /** The reference as written, e.g. `${{ matrix.node }}`. */
  raw: string;
  variable?: string;
}

const REFERENCE = /\$\{\{([\s\S]*?)\}\}/g;
const MATRIX_REFERENCE = /^matrix\.([A-Za-z_][A-Za-z0-9_-]*)$/;

/** Every `${{ ... }}` in a text, in order. */
export function findReferences(text: string): Reference[] {
  return [...text.matchAll(REFERENCE)].map((match) => {
    const variable = MATRIX_REFERENCE.exec(match[1]!.trim())?.[1];
    const reference: Reference = { index: match.index, raw: match[0] };
    if (variable !== undefined) reference.variable = variable;
    return reference;
  });
}

/** Replaces each `${{ matrix.<name> }}` with its value; other text, including unknown references, is kept. */
export function substituteMatrix(text: string, combination: Record<string, string>): string {
  return text.replace(REFERENCE, (raw: string, inner: string) => {
    const variable = MATRIX_REFERENCE.exec(inner.trim())?.[1];
    return variable !== undefined && Object.hasOwn(combination, variable) ? combination[variable]! : raw;
  });
}
