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
export type LogSinkFactory = (target: LogTarget) => LogSink;

/** Which attempt of which job a log belongs to. */
export interface LogTarget {
  buildId: string;
  jobKey: string;
  attempt: number;
}

/**
 * The end of one attempt's log, published by the writer after its last line (`LogSink.close`):
 * no line of the attempt follows. `lastSeq` is the last line's seq (0 when there was none).
 */
export interface LogEnd extends LogTarget {
  lastSeq: number;
  /** Milliseconds since the epoch. */
  ts: number;
}

/** What a live subscriber is told. Calls are synchronous and in seq order; keep them short. */
export interface TailHandlers {
  onLine(line: LogLine): void;
  /** The attempt ended: no line follows. */
  onEnd?(end: LogEnd): void;
  /** The subscription broke (e.g. the bus is gone); no call follows. */
  onError?(error: Error): void;
}

/**
 * Live lines of one attempt as they are published (for Server-Sent Events).
 *
 * `subscribe(target, fromSeq, handlers)` resolves once the subscription is in place. From then on,
 * the subscriber gets, in seq order and each once, every line with `seq >= fromSeq` that was not yet
 * archived when it subscribed, then every later one, then the end. Lines archived before it
 * subscribed may or may not be repeated, so a reader that wants the whole log subscribes first,
 * then reads the archive, and drops seqs it has already shown (`followLog` does exactly that).
 * The returned function unsubscribes; calling it twice is harmless.
 */
export interface LogTail {
  subscribe(target: LogTarget, fromSeq: number, handlers: TailHandlers): Promise<() => void>;
}
