/**
 * Where a runner's log was read up to, so that a `wait` resumed by another worker after a crash
 * goes on from there without repeating a line. It is kept in the pod's `kiln.dev/log-checkpoint`
 * annotation (the pod lives exactly as long as the log matters, and every worker can read it) and
 * is written *before* the lines it covers are handed to the log sink: a crash in between loses at
 * most that one batch, never duplicates it.
 *
 * Kubernetes resumes logs with `sinceTime`, at second precision only, so each container keeps the
 * timestamp of its last line (RFC 3339 with nanoseconds, as the kubelet writes them) and how many
 * lines carried exactly that timestamp; lines at or before it are skipped when reading again.
 */
export interface LogCheckpoint {
  /** The last seq handed out (0 before the first line). */
  seq: number;
  /** Per container name. */
  containers: Record<string, ContainerCheckpoint>;
  /** The sink was closed: the log is complete. */
  ended?: boolean;
}

export interface ContainerCheckpoint {
  /** Normalised timestamp of the last line read (see {@link normalizeTimestamp}); absent before one. */
  ts?: string;
  /** Lines read with exactly `ts`. */
  n: number;
  /** The container's log was read to its end. */
  done?: boolean;
}

export function emptyCheckpoint(): LogCheckpoint {
  return { seq: 0, containers: {} };
}

/** Reads the annotation; a missing or damaged one counts as empty (the log restarts at seq 1). */
export function parseCheckpoint(text: string | undefined): LogCheckpoint {
  if (text === undefined) return emptyCheckpoint();
  try {
    const value = JSON.parse(text) as Partial<LogCheckpoint>;
    if (typeof value.seq !== 'number' || typeof value.containers !== 'object' || value.containers === null) {
      return emptyCheckpoint();
    }
    return { seq: value.seq, containers: value.containers, ...(value.ended ? { ended: true } : {}) };
  } catch {
    return emptyCheckpoint();
  }
}

/**
 * `2026-01-02T03:04:05.12Z` → `2026-01-02T03:04:05.120000000Z`: fixed width, so timestamps
 * compare as strings (the kubelet trims trailing zeros of the fraction). Undefined when `text` is
 * not an RFC 3339 UTC timestamp.
 */
export function normalizeTimestamp(text: string): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(text);
  if (!match) return undefined;
  return `${match[1]}.${(match[2] ?? '').padEnd(9, '0')}Z`;
}

/** The `sinceTime` to ask for: the checkpoint's second (the API ignores anything finer). */
export function sinceTimeOf(ts: string | undefined): string | undefined {
  return ts === undefined ? undefined : `${ts.slice(0, 19)}Z`;
}

/** Splits a `timestamps=true` log line into its normalised timestamp and its text. */
export function splitTimestamped(line: string): { ts: string; text: string } | undefined {
  const space = line.indexOf(' ');
  const ts = normalizeTimestamp(space < 0 ? line : line.slice(0, space));
  if (ts === undefined) return undefined;
  return { ts, text: space < 0 ? '' : line.slice(space + 1) };
}

/**
 * Whether a line read again at `ts` is new, given the container's checkpoint; `seen` counts the
 * lines at that same timestamp met so far in this read (start at 0, updated in place).
 */
export function isNewLine(
  checkpoint: ContainerCheckpoint,
  ts: string,
  seen: { ts?: string; n: number },
): boolean {
  if (seen.ts !== ts) {
    seen.ts = ts;
    seen.n = 0;
  }
  seen.n += 1;
  if (checkpoint.ts === undefined || ts > checkpoint.ts) return true;
  if (ts < checkpoint.ts) return false;
  return seen.n > checkpoint.n;
}
