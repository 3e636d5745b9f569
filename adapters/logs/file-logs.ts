import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { InvalidInputError } from '../../shared/errors.ts';
import type { LogLine, LogSink, LogSinkFactory, LogStore, LogTarget } from './port.ts';

export type { LogTarget } from './port.ts';

/** What one NDJSON record holds; build, job and attempt are given by the file's path. */
interface StoredLine {
  seq: number;
  ts: number;
  stream: LogLine['stream'];
  text: string;
}

const FLUSH_INTERVAL_MS = 200;
const FLUSH_BYTES = 64 * 1024;
const ATTEMPT_FILE = /^(\d+)\.ndjson$/;

/** Path of one attempt's log: `<logsDir>/<build>/<job>/<attempt>.ndjson`. Rejects unsafe ids. */
export function logFilePath(logsDir: string, target: LogTarget): string {
  return join(jobDir(logsDir, target.buildId, target.jobKey), `${checkAttempt(target.attempt)}.ndjson`);
}

/**
 * Appends one attempt's lines to its NDJSON file in batches: a batch is written when 64 KB are
 * buffered or 200 ms after the first buffered line, whichever comes first. One writer per attempt.
 */
export class FileLogSink implements LogSink {
  readonly path: string;
  #buffer: string[] = [];
  #bufferedBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #file: FileHandle | undefined;
  /** Tail of the chain of writes, so batches land in order. */
  #writing: Promise<void> = Promise.resolve();
  #error: unknown;
  #closed = false;

  constructor(options: { logsDir: string } & LogTarget) {
    this.path = logFilePath(options.logsDir, options);
  }

  async write(lines: LogLine[]): Promise<void> {
    this.#throwIfFailed();
    if (this.#closed) throw new Error(`log sink for ${this.path} is closed`);
    for (const line of lines) {
      const stored: StoredLine = { seq: line.seq, ts: line.ts, stream: line.stream, text: line.text };
      const json = `${JSON.stringify(stored)}\n`;
      this.#buffer.push(json);
      this.#bufferedBytes += Buffer.byteLength(json);
    }
    if (this.#bufferedBytes >= FLUSH_BYTES) {
      await this.#flush();
    } else if (this.#timer === undefined && this.#buffer.length > 0) {
      this.#timer = setTimeout(() => void this.#flush().catch(() => undefined), FLUSH_INTERVAL_MS);
      this.#timer.unref();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return this.#writing;
    this.#closed = true;
    try {
      await this.#flush();
    } finally {
      await this.#file?.close();
      this.#file = undefined;
    }
    this.#throwIfFailed();
  }

  /** Hands the buffer to the write chain; resolves when it is on disk. */
  #flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length > 0) {
      const chunk = this.#buffer.join('');
      this.#buffer = [];
      this.#bufferedBytes = 0;
      this.#writing = this.#writing.then(async () => {
        if (this.#error !== undefined) return;
        try {
          this.#file ??= await this.#open();
          await this.#file.appendFile(chunk);
        } catch (err) {
          this.#error = err;
        }
      });
    }
    return this.#writing.then(() => this.#throwIfFailed());
  }

  async #open(): Promise<FileHandle> {
    await mkdir(dirname(this.path), { recursive: true });
    return open(this.path, 'a');
  }

  #throwIfFailed(): void {
    if (this.#error !== undefined) {
      throw new Error(`cannot write log ${this.path}: ${String(this.#error)}`, { cause: this.#error });
    }
  }
}

/** Reads the logs that {@link FileLogSink} wrote under `logsDir`. */
export class FileLogStore implements LogStore {
  readonly logsDir: string;

  constructor(options: { logsDir: string }) {
    this.logsDir = options.logsDir;
  }

  async attempts(buildId: string, jobKey: string): Promise<number[]> {
    let names: string[];
    try {
      names = await readdir(jobDir(this.logsDir, buildId, jobKey));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .map((name) => ATTEMPT_FILE.exec(name)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /**
   * Streams the lines of one attempt from disk, line by line. An attempt without logs yields
   * nothing. A last line still being written (no newline yet, cut JSON) is skipped.
   */
  async *read(buildId: string, jobKey: string, attempt: number): AsyncIterable<LogLine> {
    const path = logFilePath(this.logsDir, { buildId, jobKey, attempt });
    const stream = createReadStream(path, { encoding: 'utf8' });
    const opened = new Promise<boolean>((resolve, reject) => {
      stream.once('ready', () => resolve(true));
      stream.once('error', (err: NodeJS.ErrnoException) =>
        err.code === 'ENOENT' ? resolve(false) : reject(err),
      );
    });
    if (!(await opened)) return;
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    try {
      // A line is parsed only once the next one has arrived, so the last one can be judged apart.
      let previous: { text: string; number: number } | undefined;
      let number = 0;
      for await (const text of lines) {
        number += 1;
        if (previous !== undefined)
          yield parse(previous.text, path, previous.number, { buildId, jobKey, attempt });
        previous = { text, number };
      }
      if (previous !== undefined && previous.text !== '') {
        const last = tryParse(previous.text, { buildId, jobKey, attempt });
        if (last !== undefined) yield last;
      }
    } finally {
      lines.close();
      stream.destroy();
    }
  }
}

/** One sink per attempt, writing under `logsDir`. */
export function createFileLogSinkFactory(logsDir: string): LogSinkFactory {
  return (target) => new FileLogSink({ logsDir, ...target });
}

function parse(text: string, path: string, lineNumber: number, target: LogTarget): LogLine {
  const line = tryParse(text, target);
  if (line === undefined) throw new Error(`${path}:${lineNumber}: not a log record`);
  return line;
}

/** One NDJSON record of an attempt's file as a line; undefined when it is not one (e.g. cut short). */
export function tryParse(text: string, target: LogTarget): LogLine | undefined {
  let stored: Partial<StoredLine>;
  try {
    stored = JSON.parse(text) as Partial<StoredLine>;
  } catch {
    return undefined;
  }
  if (typeof stored.seq !== 'number' || typeof stored.text !== 'string') return undefined;
  return {
    buildId: target.buildId,
    jobKey: target.jobKey,
    attempt: target.attempt,
    seq: stored.seq,
    ts: stored.ts ?? 0,
    stream: stored.stream ?? 'stdout',
    text: stored.text,
  };
}

function jobDir(logsDir: string, buildId: string, jobKey: string): string {
  return join(logsDir, checkId('buildId', buildId), checkId('jobKey', jobKey));
}

function checkId(field: string, id: string): string {
  // eslint-disable-next-line no-control-regex
  if (id === '' || id === '.' || id === '..' || /[/\\\x00]/.test(id)) {
    throw new InvalidInputError(field, `not a file-safe id: ${JSON.stringify(id)}`);
  }
  return id;
}

function checkAttempt(attempt: number): number {
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new InvalidInputError('attempt', `not an attempt number: ${attempt}`);
  }
  return attempt;
}
