/**
 * What travels on the log bus: frames of consecutive lines of one attempt (one frame per sink
 * write, cut at {@link MAX_FRAME_BYTES}), and one end record per attempt, as JSON keyed by
 * `<build>/<job>` so all records of a job share a partition and keep their order. Framing lines
 * makes the per-record cost of the bus (headers, checksums, offsets) negligible. The same records
 * flow through Kafka and the in-process bus.
 *
 * Encoded: `{"type":"lines","buildId","jobKey","attempt","lines":[[seq,ts,stream,text],…]}` and
 * `{"type":"end","buildId","jobKey","attempt","lastSeq","ts"}`.
 */
import type { LogEnd, LogLine, LogTarget } from './port.ts';

/** `lines` are of one attempt, in seq order. */
export type LogRecord = { type: 'lines'; lines: LogLine[] } | { type: 'end'; end: LogEnd };

/** Lines longer than this (UTF-8 bytes) are split into several lines. */
export const MAX_LINE_BYTES = 64 * 1024;
/** A frame holds lines up to about this many bytes of text (one line may exceed it alone). */
export const MAX_FRAME_BYTES = 128 * 1024;

const STREAMS: ReadonlySet<string> = new Set(['stdout', 'stderr', 'system']);

/** The bus key of an attempt's records: the job, so every attempt of a job stays in order. */
export function recordKey(target: LogTarget): string {
  return `${target.buildId}/${target.jobKey}`;
}

/** One map key per attempt. */
export function attemptId(target: LogTarget): string {
  return JSON.stringify([target.buildId, target.jobKey, target.attempt]);
}

export function sameAttempt(a: LogTarget, b: LogTarget): boolean {
  return a.attempt === b.attempt && a.jobKey === b.jobKey && a.buildId === b.buildId;
}

/** The attempt a record belongs to. */
export function recordTarget(record: LogRecord): LogTarget | undefined {
  return record.type === 'end' ? record.end : record.lines[0];
}

/** Cuts one attempt's lines (in order) into frame records of at most about MAX_FRAME_BYTES. */
export function frames(lines: readonly LogLine[]): LogRecord[] {
  const out: LogRecord[] = [];
  let current: LogLine[] = [];
  let bytes = 0;
  for (const line of lines) {
    if (current.length > 0 && bytes + line.text.length > MAX_FRAME_BYTES) {
      out.push({ type: 'lines', lines: current });
      current = [];
      bytes = 0;
    }
    current.push(line);
    bytes += line.text.length + 32;
  }
  if (current.length > 0) out.push({ type: 'lines', lines: current });
  return out;
}

export function encodeRecord(record: LogRecord): Buffer {
  if (record.type === 'end') {
    const { buildId, jobKey, attempt, lastSeq, ts } = record.end;
    return Buffer.from(JSON.stringify({ type: 'end', buildId, jobKey, attempt, lastSeq, ts }));
  }
  const first = record.lines[0];
  if (first === undefined) throw new Error('a log frame needs at least one line');
  return Buffer.from(
    JSON.stringify({
      type: 'lines',
      buildId: first.buildId,
      jobKey: first.jobKey,
      attempt: first.attempt,
      lines: record.lines.map((line) => [line.seq, line.ts, line.stream, line.text]),
    }),
  );
}

/** The record in `value`, or `undefined` for anything that is not one (it is skipped, not fatal). */
export function decodeRecord(value: Buffer | null): LogRecord | undefined {
  if (value === null) return undefined;
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { buildId, jobKey, attempt, ts } = raw;
  if (typeof buildId !== 'string' || typeof jobKey !== 'string' || !isCount(attempt)) return undefined;
  if (raw.type === 'lines' && Array.isArray(raw.lines)) {
    const lines: LogLine[] = [];
    for (const entry of raw.lines as unknown[]) {
      if (!Array.isArray(entry)) continue;
      const [seq, time, stream, text] = entry as unknown[];
      if (!isCount(seq) || typeof text !== 'string') continue;
      const kind =
        typeof stream === 'string' && STREAMS.has(stream) ? (stream as LogLine['stream']) : 'stdout';
      lines.push({
        buildId,
        jobKey,
        attempt,
        seq,
        ts: typeof time === 'number' ? time : 0,
        stream: kind,
        text,
      });
    }
    return lines.length === 0 ? undefined : { type: 'lines', lines };
  }
  if (raw.type === 'end' && isCount(raw.lastSeq)) {
    return {
      type: 'end',
      end: { buildId, jobKey, attempt, lastSeq: raw.lastSeq, ts: typeof ts === 'number' ? ts : 0 },
    };
  }
  return undefined;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * Makes one writer's lines safe to ship: well-formed Unicode (lone surrogates, which is what
 * invalid UTF-8 decodes to at worst, become U+FFFD), no control characters but tab and ESC (kept
 * for colours; the others become their visible "control picture", C1 controls become U+FFFD), no
 * embedded newline (the line is split there) and at most {@link MAX_LINE_BYTES} per line (split,
 * never cut). Splitting inserts lines, so seqs from there on shift by the number of extra lines to
 * stay gapless; without splits they are the writer's own. One normalizer per attempt.
 */
export class LineNormalizer {
  #shift = 0;
  #lastSeq = 0;

  /** The last seq handed out (0 before the first line). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** The lines, normalized, as lines of `target` (whatever attempt they claim). */
  normalize(lines: readonly LogLine[], target: LogTarget): LogLine[] {
    const { buildId, jobKey, attempt } = target;
    const out: LogLine[] = [];
    for (const { seq, ts, stream, text } of lines) {
      if (text.length * 3 <= MAX_LINE_BYTES && !text.includes('\n')) {
        // The common case: one short line.
        const shifted = seq + this.#shift;
        out.push({ buildId, jobKey, attempt, seq: shifted, ts, stream, text: printable(text) });
        this.#lastSeq = shifted;
        continue;
      }
      const parts = splitLines(text).flatMap((part) => splitLong(printable(part)));
      for (let i = 0; i < parts.length; i++) {
        const shifted = seq + this.#shift + i;
        out.push({ buildId, jobKey, attempt, seq: shifted, ts, stream, text: parts[i] ?? '' });
        this.#lastSeq = shifted;
      }
      this.#shift += parts.length - 1;
    }
    return out;
  }
}

/** Control characters but tab, newline and ESC; lone surrogates (never valid UTF-8). */
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex
  /[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Replaces control characters (all but tab, newline and ESC) and lone surrogates with printable stand-ins. */
export function printable(text: string): string {
  UNPRINTABLE.lastIndex = 0;
  if (!UNPRINTABLE.test(text)) return text;
  return text.replace(UNPRINTABLE, (c) => {
    const code = c.charCodeAt(0);
    if (code < 0x20) return String.fromCharCode(0x2400 + code);
    return code === 0x7f ? '\u2421' : '\ufffd';
  });
}

/** Splits at newlines, dropping a `\r` before one. */
function splitLines(text: string): string[] {
  if (!text.includes('\n')) return [text];
  return text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
}

/** Splits a line into pieces of at most MAX_LINE_BYTES, between code points. */
function splitLong(line: string): string[] {
  if (line.length * 3 <= MAX_LINE_BYTES || Buffer.byteLength(line) <= MAX_LINE_BYTES) return [line];
  const out: string[] = [];
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < line.length;) {
    const code = line.codePointAt(i) ?? 0;
    const width = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + width > MAX_LINE_BYTES) {
      out.push(line.slice(start, i));
      start = i;
      bytes = 0;
    }
    bytes += width;
    i += code >= 0x10000 ? 2 : 1;
  }
  out.push(line.slice(start));
  return out;
}
