/**
 * Secret masking, applied on the runner side before a line leaves it (so neither the bus, the
 * archive nor a live tail ever holds a secret).
 */
import type { LogLine, LogSink } from './port.ts';

/** What a masked secret becomes. */
export const MASK = '***';

/** Values shorter than this are not masked: masking `on` or `1` would hide half the log. */
export const MIN_SECRET_LENGTH = 4;

/** The width at which `base64` and most PEM writers wrap their output. */
const BASE64_LINE = 76;

export type Masker = (text: string) => string;

/**
 * A pure function replacing, in one pass, every registered secret value with `***`, together with
 * the forms it is commonly printed in: each line of a multi-line value, its base64 (standard and
 * URL-safe, padded or not, wrapped at 76 columns, and as part of a longer base64 text such as a
 * basic-auth header), its URL encoding (`%20` and `+` for spaces) and its JSON string escaping.
 * Values (and lines) shorter than {@link MIN_SECRET_LENGTH} are ignored.
 */
export function createMasker(secrets: readonly string[]): Masker {
  const forms = new Set<string>();
  for (const secret of secrets) {
    for (const value of [secret, ...secret.split(/\r?\n/)]) {
      if (value.length < MIN_SECRET_LENGTH) continue;
      for (const form of encodedForms(value)) if (form.length >= MIN_SECRET_LENGTH) forms.add(form);
    }
  }
  if (forms.size === 0) return (text) => text;
  // Longest first, so that a value wins over its own parts at the same position.
  const pattern = [...forms]
    .sort((a, b) => b.length - a.length)
    .map(escapeRegExp)
    .join('|');
  const regex = new RegExp(pattern, 'g');
  return (text) => (text.length < MIN_SECRET_LENGTH ? text : text.replace(regex, MASK));
}

/** Wraps a sink so every line's text goes through `mask` first. */
export function withMasking(sink: LogSink, mask: Masker): LogSink {
  return {
    write: (lines: LogLine[]) => sink.write(lines.map((line) => ({ ...line, text: mask(line.text) }))),
    close: () => sink.close(),
  };
}

function encodedForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const base64 = bytes.toString('base64');
  const forms = [
    value,
    base64,
    base64.replace(/=+$/, ''),
    bytes.toString('base64url'),
    encodeURIComponent(value),
    encodeURIComponent(value).replace(/%20/g, '+'),
    JSON.stringify(value).slice(1, -1),
  ];
  if (base64.length > BASE64_LINE) {
    for (let i = 0; i < base64.length; i += BASE64_LINE) {
      const line = base64.slice(i, i + BASE64_LINE);
      if (line.replace(/=+$/, '').length >= 2 * MIN_SECRET_LENGTH) forms.push(line);
    }
  }
  forms.push(...embeddedBase64(bytes));
  return forms;
}

/**
 * The base64 characters that stay the same wherever the value sits inside a longer encoded text:
 * for each of the 3 possible byte alignments, the encoding minus the characters that depend on
 * the neighbouring bytes. Too short a core (short values) is left out: it would mask random text.
 */
function embeddedBase64(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let offset = 1; offset <= 2; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // The first `offset` bytes share their characters with the prefix.
    const skip = offset === 1 ? 2 : 3;
    // Characters after the last full 3-byte group depend on the bytes that follow.
    const fullGroups = Math.floor((offset + bytes.length) / 3);
    const core = encoded.slice(skip, fullGroups * 4);
    if (core.length >= 2 * MIN_SECRET_LENGTH) out.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  // Aligned at a group start but followed by more bytes: only full groups are stable.
  const aligned = bytes.toString('base64').slice(0, Math.floor(bytes.length / 3) * 4);
  if (aligned.length >= 2 * MIN_SECRET_LENGTH) out.push(aligned);
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}
