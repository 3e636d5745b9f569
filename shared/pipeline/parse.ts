import {
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
  type Scalar,
  visit,
  type YAMLError,
} from 'yaml';
import { FILE_START, type Position, type ProblemCollector } from './problem.ts';

/**
 * The YAML file as a small tree in which every node knows where it was written. Later stages
 * work on this tree only, so they never depend on the YAML library's node classes.
 */

/** A string, number, boolean or null. */
export interface ScalarNode {
  kind: 'scalar';
  value: string | number | boolean | null;
  /** The value as text; numbers and booleans keep their spelling (`1.10` stays `1.10`). */
  text: string;
  pos: Position;
  /**
   * Where `text` starts, when it sits on one line exactly as written (no escapes, no folding):
   * then character `i` is at column `textStart.col + i`, and problems can point inside the value.
   */
  textStart?: Position;
}

/** One `key: value` of a map; keys are always text. */
export interface MapEntry {
  key: string;
  keyPos: Position;
  value: Node;
}

export interface MapNode {
  kind: 'map';
  entries: MapEntry[];
  pos: Position;
}

export interface SeqNode {
  kind: 'seq';
  items: Node[];
  pos: Position;
}

export type Node = ScalarNode | MapNode | SeqNode;

/** Error codes after which the tree is still the one the author meant, so checking may go on. */
const RECOVERABLE = new Set(['DUPLICATE_KEY']);

/**
 * Parses YAML source into a positioned tree. Returns `undefined` when the file is empty or the
 * YAML is broken (after reporting why): checking a tree the parser had to guess at would only
 * add confusing problems to the real one.
 */
export function parseYaml(source: string, problems: ProblemCollector): Node | undefined {
  const lines = new LineCounter();
  // prettyErrors would append a source excerpt to each message; problems are one line each.
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const fatal = reportYamlErrors(doc, source, lines, problems);
  if (fatal || doc.contents === null) return undefined;
  return new TreeBuilder(source, doc, lines).build(doc.contents, FILE_START);
}

/** Reports the parser's errors; returns whether any of them leaves the tree unusable. */
function reportYamlErrors(
  doc: Document,
  source: string,
  lines: LineCounter,
  problems: ProblemCollector,
): boolean {
  const quoteStarts = new Map<YAMLError, number>();
  for (const error of doc.errors) {
    const start = error.code === 'MISSING_CHAR' ? unclosedQuoteStart(doc, error.pos[0]) : undefined;
    if (start !== undefined) quoteStarts.set(error, start);
  }
  // An unclosed quote swallows the rest of the file; errors after it are echoes of that one.
  const swallowedFrom = Math.min(...quoteStarts.values());
  const linesWithError = new Set<number>();
  let fatal = false;
  for (const error of doc.errors) {
    if (!RECOVERABLE.has(error.code)) fatal = true;
    const quoteStart = quoteStarts.get(error);
    if (quoteStart === undefined && error.pos[0] > swallowedFrom) continue;
    const pos = lines.linePos(quoteStart ?? error.pos[0]);
    // One mistake often trips several rules on the same line; the first says it best.
    if (linesWithError.has(pos.line)) continue;
    linesWithError.add(pos.line);
    const message =
      quoteStart === undefined
        ? yamlMessage(error.code, error.message, source, error.pos[0])
        : 'invalid YAML: this quoted string is never closed';
    problems.add(pos, message);
  }
  return fatal;
}

/**
 * Where the quoted string that runs to `end` starts. The parser reports a missing quote where
 * it gave up, at the end of the file; the person needs the line where the quote was opened.
 */
function unclosedQuoteStart(doc: Document, end: number): number | undefined {
  let start: number | undefined;
  visit(doc, {
    Scalar(_key, node) {
      const quoted = node.type === 'QUOTE_SINGLE' || node.type === 'QUOTE_DOUBLE';
      if (quoted && node.range && node.range[0] < end && node.range[1] >= end) start = node.range[0];
    },
  });
  return start;
}

function yamlMessage(code: string, message: string, source: string, offset: number): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^[^:\n]*/.exec(source.slice(offset))?.[0].trim() ?? '';
    return `duplicate key "${key}": each key may appear only once in a map`;
  }
  if (code === 'MULTIPLE_DOCS')
    return 'invalid YAML: the file holds more than one document (remove the "---")';
  // The library's messages are already sentences; lower-case the first letter to read after "invalid YAML:".
  return `invalid YAML: ${message.charAt(0).toLowerCase()}${message.slice(1)}`;
}

class TreeBuilder {
  readonly #source: string;
  readonly #doc: Document;
  readonly #lines: LineCounter;
  /** Aliases share the node they point to, so `*anchor` repeated many times costs nothing more. */
  readonly #built = new Map<YamlNode, Node>();

  constructor(source: string, doc: Document, lines: LineCounter) {
    this.#source = source;
    this.#doc = doc;
    this.#lines = lines;
  }

  build(node: YamlNode, fallback: Position): Node {
    const target = isAlias(node) ? node.resolve(this.#doc) : node;
    // An alias to nothing is already a YAML error; an empty scalar keeps the tree well formed.
    if (target === undefined) return emptyScalar(fallback);
    const known = this.#built.get(target);
    if (known) return known;
    const built = this.#convert(target, fallback);
    this.#built.set(target, built);
    return built;
  }

  #pos(node: YamlNode, fallback: Position): Position {
    return node.range ? this.#lines.linePos(node.range[0]) : fallback;
  }

  #convert(node: YamlNode, fallback: Position): Node {
    const pos = this.#pos(node, fallback);
    if (isMap(node)) {
      const entries: MapEntry[] = [];
      const keys = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = pair.key as YamlNode | null;
        const keyPos = keyNode ? this.#pos(keyNode, pos) : pos;
        const key = keyNode && isScalar(keyNode) ? scalarText(keyNode.value, keyNode.source) : '';
        // A duplicate key was reported by the parser; keep the first one, as most YAML readers do not.
        if (keys.has(key)) continue;
        keys.add(key);
        const valueNode = pair.value as YamlNode | null;
        // `key:` with nothing after it points at the key: the empty value has no place of its own.
        const value = valueNode && !isEmpty(valueNode) ? this.build(valueNode, keyPos) : emptyScalar(keyPos);
        entries.push({ key, keyPos, value });
      }
      return { kind: 'map', entries, pos };
    }
    if (isSeq(node)) {
      const items = node.items.map((item) => {
        const itemNode = item as YamlNode | null;
        if (itemNode && !isEmpty(itemNode)) return this.build(itemNode, pos);
        return emptyScalar(itemNode?.range ? this.#lines.linePos(this.#dashBefore(itemNode.range[0])) : pos);
      });
      return { kind: 'seq', items, pos };
    }
    if (isScalar(node)) {
      const value = node.value;
      if (
        value !== null &&
        typeof value !== 'string' &&
        typeof value !== 'number' &&
        typeof value !== 'boolean'
      ) {
        // Custom tags (`!!binary`, timestamps) are not part of the pipeline language: keep the raw text.
        return { kind: 'scalar', value: node.source ?? '', text: node.source ?? '', pos };
      }
      const text = scalarText(value, node.source);
      const textStart = this.#textStart(node, text, pos);
      return textStart
        ? { kind: 'scalar', value, text, pos, textStart }
        : { kind: 'scalar', value, text, pos };
    }
    return emptyScalar(pos);
  }

  /** A `-` with nothing after it: the parser places the empty item after the dash; point at the dash. */
  #dashBefore(offset: number): number {
    let i = offset;
    while (i > 0 && (this.#source[i - 1] === ' ' || this.#source[i - 1] === '\t')) i--;
    return this.#source[i - 1] === '-' ? i - 1 : offset;
  }

  #textStart(node: Scalar, text: string, pos: Position): Position | undefined {
    if (!node.range) return undefined;
    const raw = this.#source.slice(node.range[0], node.range[1]);
    if (raw.includes('\n')) return undefined;
    if (node.type === 'PLAIN' && raw === text) return pos;
    const quoted =
      (node.type === 'QUOTE_SINGLE' && raw === `'${text}'`) ||
      (node.type === 'QUOTE_DOUBLE' && raw === `"${text}"`);
    return quoted ? { line: pos.line, col: pos.col + 1 } : undefined;
  }
}

function scalarText(value: unknown, source: string | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  // Plain numbers and booleans keep the spelling of the file: `1.10` is a version, not 1.1.
  return source ?? String(value);
}

function isEmpty(node: YamlNode): boolean {
  return isScalar(node) && node.value === null && node.range != null && node.range[0] === node.range[1];
}

function emptyScalar(pos: Position): ScalarNode {
  return { kind: 'scalar', value: null, text: '', pos };
}

/** The position of character `index` of a scalar's text, or the scalar itself when it cannot be exact. */
export function positionIn(node: ScalarNode, index: number): Position {
  return node.textStart ? { line: node.textStart.line, col: node.textStart.col + index } : node.pos;
}
