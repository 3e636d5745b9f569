/**
 * Durations as people write them in a pipeline: `500ms`, `90s`, `20m`, `1h`, or combined from
 * the largest unit down, such as `1h30m` or `2m30s`.
 */

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;

/** Units from the largest down: a combined duration lists each at most once, in this order. */
const UNIT_ORDER: readonly Unit[] = ['h', 'm', 's', 'ms'];

// `ms` comes before `m` in the alternation so that `500ms` is not read as `500m` followed by `s`.
const SEGMENT = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

/**
 * Milliseconds in a duration such as `90s`, `20m`, `1h`, `500ms` or `1h30m`, or `undefined` when
 * the text is not one. Fractions are allowed (`1.5h`) and rounded to the millisecond. A bare
 * number has no unit and is rejected: `90` could mean seconds or minutes.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  let total = 0;
  let index = 0;
  let lastUnit = -1;
  while (index < trimmed.length) {
    SEGMENT.lastIndex = index;
    const match = SEGMENT.exec(trimmed);
    if (!match) return undefined;
    const unit = match[2] as Unit;
    const order = UNIT_ORDER.indexOf(unit);
    // `30m1h` or `1m1m` is more likely a mistake than a duration someone meant.
    if (order <= lastUnit) return undefined;
    lastUnit = order;
    total += Number(match[1]) * UNIT_MS[unit];
    index = SEGMENT.lastIndex;
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}
