import type { BuildState, JobState, JobStatus } from '../shared/build-state.ts';

const useColor = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string): string => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);

const STATUS_STYLE: Record<JobStatus | BuildState['status'], (t: string) => string> = {
  pending: (t) => paint(90, t),
  queued: (t) => paint(90, t),
  running: (t) => paint(36, t),
  succeeded: (t) => paint(32, t),
  failed: (t) => paint(31, t),
  timed_out: (t) => paint(31, t),
  errored: (t) => paint(35, t),
  cancelled: (t) => paint(33, t),
  skipped: (t) => paint(90, t),
};

/** `12.3s` from two ISO times (or from a start time to now). */
export function duration(from?: string, to?: string): string {
  if (!from) return '';
  const ms = (to ? Date.parse(to) : Date.now()) - Date.parse(from);
  return ms < 60_000
    ? `${(ms / 1000).toFixed(1)}s`
    : `${Math.floor(ms / 60_000)}m${Math.round((ms % 60_000) / 1000)}s`;
}

/** Pads every column to its widest cell; the first row is the header. */
export function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A readable table of a build's jobs, padded to the widest cell of each column. */
export function renderBuild(build: BuildState): string {
  const header = `build ${build.id}  ${build.repo} @ ${build.branch ?? build.tag ?? build.ref}  ${(build.commitSha ?? '').slice(0, 10)}  ${STATUS_STYLE[build.status](build.status)}  ${duration(build.startedAt ?? build.createdAt, build.finishedAt)}`;
  const rows: string[][] = [['JOB', 'STATUS', 'ATTEMPT', 'TIME', 'DETAIL']];
  const names = new Map(build.jobs.map((j) => [j.key, j]));
  for (const job of build.jobs) rows.push(jobRow(job, names));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((row, r) =>
    row
      .map((cell, i) => {
        const padded = cell.padEnd(widths[i]!);
        return r > 0 && i === 1 ? STATUS_STYLE[cell.trim() as JobStatus](padded) : padded;
      })
      .join('  ')
      .trimEnd(),
  );
  const problems = build.problems.map((p) => `  ${p.file}:${p.line}:${p.col} ${p.message}`);
  return [
    header,
    ...(build.jobs.length ? lines : []),
    ...(build.message ? [`  ${build.message}`] : []),
    ...problems,
  ].join('\n');
}

function jobRow(job: JobState, jobs: Map<string, JobState>): string[] {
  const waitingFor = job.needs.filter((key) => jobs.get(key)?.status !== 'succeeded');
  const detail =
    job.status === 'failed' && job.failedStep
      ? `step "${job.failedStep}" exited ${job.exitCode ?? '?'}`
      : job.status === 'pending' && waitingFor.length
        ? `waiting for ${waitingFor.length === 1 ? jobs.get(waitingFor[0]!)?.name : `${waitingFor.length} jobs`}`
        : (job.message ?? '');
  return [
    job.name,
    job.status,
    job.attempt ? String(job.attempt) : '',
    duration(job.startedAt, job.finishedAt),
    detail,
  ];
}
