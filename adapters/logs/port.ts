/** One line of job output. `seq` orders the lines of one attempt, from 1, without gaps. */
export interface LogLine {
  buildId: string;
  jobKey: string;
  attempt: number;
  seq: number;
  /** Milliseconds since the epoch, taken when the runner read the line. */
  ts: number;
  stream: 'stdout' | 'stderr' | 'system';
  text: string;
}

/**
 * Where the runner side publishes log lines. Lines of one attempt are written in `seq` order by
 * one writer. `close` flushes everything written so far; after it resolves, lines are readable.
 */
export interface LogSink {
  write(lines: LogLine[]): Promise<void>;
  close(): Promise<void>;
}

/** Read side of the logs: what the API serves. */
export interface LogStore {
  /** Attempts that have logs for this job, ascending. Empty when there are none. */
  attempts(buildId: string, jobKey: string): Promise<number[]>;
  /** Lines of one attempt in `seq` order, streamed (never the whole log in memory). */
  read(buildId: string, jobKey: string, attempt: number): AsyncIterable<LogLine>;
}

/** Opens a sink for one attempt; the runner side calls it once per attempt. */
export type LogSinkFactory = (target: { buildId: string; jobKey: string; attempt: number }) => LogSink;
