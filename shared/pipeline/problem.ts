import type { Problem } from './types.ts';

/** A 1-based position in the pipeline file. */
export interface Position {
  line: number;
  col: number;
}

/** The start of the file: where problems about the file as a whole point. */
export const FILE_START: Position = { line: 1, col: 1 };

/**
 * Collects every problem of one pipeline file. Checks keep going after a problem so that a
 * person fixes them all in one round instead of one per push.
 */
export class ProblemCollector {
  readonly file: string;
  readonly #problems: Problem[] = [];

  constructor(file: string) {
    this.file = file;
  }

  add(pos: Position, message: string): void {
    this.#problems.push({ file: this.file, line: pos.line, col: pos.col, message });
  }

  get count(): number {
    return this.#problems.length;
  }

  /** Problems in file order; the same problem reached twice (through a YAML alias, say) is listed once. */
  sorted(): Problem[] {
    const seen = new Set<string>();
    const unique = this.#problems.filter((p) => {
      const id = formatProblem(p);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    // Array.prototype.sort is stable, so problems at the same place keep the order they were found in.
    return unique.sort((a, b) => a.line - b.line || a.col - b.col);
  }
}

/** Formats a problem the way compilers do, so editors and terminals can link to it: `file:line:col message`. */
export function formatProblem(problem: Problem): string {
  return `${problem.file}:${problem.line}:${problem.col} ${problem.message}`;
}

/**
 * The problem reported when the commit has no pipeline file at the expected path.
 * A full commit id is shortened to the 7 characters people recognise from `git log --oneline`.
 */
export function missingPipelineProblem(file: string, sha: string): Problem {
  const short = /^[0-9a-f]{8,}$/i.test(sha) ? sha.slice(0, 7) : sha;
  return { file, line: 1, col: 1, message: `no pipeline file "${file}" at commit ${short}` };
}
