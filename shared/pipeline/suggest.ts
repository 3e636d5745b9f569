/**
 * "Did you mean" hints for misspelled keys, job ids, identifiers and functions.
 */

/**
 * Edit distance between two words (insertions, deletions, substitutions and swaps of two
 * neighbouring characters each cost 1), so that `neds`→`needs` and `nedes`→`needs` both cost 1.
 */
export function editDistance(a: string, b: string): number {
  // Three rolling rows of the classic table: the swap rule looks two rows back.
  let twoBack: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, twoBack[j - 2]! + 1);
      }
      current.push(best);
    }
    twoBack = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The candidate closest to `word`, if one is close enough to be a plausible typo: within a third
 * of the word's length (at least 1), ignoring case, or sharing its first four letters (`retry`
 * → `retries`). Ties go to the earlier candidate, so callers list the likeliest first.
 */
export function suggest(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const other = candidate.toLowerCase();
    const distance = editDistance(lower, other);
    const samePrefix = lower.length >= 4 && other.length >= 4 && lower.slice(0, 4) === other.slice(0, 4);
    if ((distance <= limit || samePrefix) && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` when there is a close candidate, otherwise an empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const match = suggest(word, candidates);
  return match === undefined ? '' : ` (did you mean "${match}"?)`;
}
