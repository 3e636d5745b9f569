/**
 * Reads an HTTP `Range` header (RFC 9110) for one representation of `size` bytes: the inclusive
 * range to serve, `undefined` to serve the whole (no header, another unit, several ranges or a
 * malformed value: all allowed to be ignored), or `unsatisfiable` (answer 416).
 */
export function parseRangeHeader(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, first, last] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // `bytes=-500`: the last 500 bytes.
    const suffix = Number(last);
    if (suffix === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? undefined : Number(last);
  if (!Number.isSafeInteger(start) || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    return undefined;
  }
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end ?? size - 1, size - 1) };
}
