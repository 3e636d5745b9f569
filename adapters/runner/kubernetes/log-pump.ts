import type { Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { LogLine, LogSink, LogTarget } from '../../logs/port.ts';
import { createLineSplitter } from '../local/step-io.ts';
import { orderedStatuses } from './classify.ts';
import {
  isNewLine,
  sinceTimeOf,
  splitTimestamped,
  type ContainerCheckpoint,
  type LogCheckpoint,
} from './log-checkpoint.ts';

/** Opens one container's log with timestamps (the Kubernetes log API, or a fake in unit tests). */
export interface LogSource {
  open(
    container: string,
    options: { follow: boolean; sinceTime?: string },
  ): Promise<{ stream: Readable; abort(): void }>;
}

export interface LogPumpOptions {
  source: LogSource;
  /** Already masking secret values. */
  sink: LogSink;
  target: LogTarget;
  /** Containers in execution order, with what the log calls them (`checkout`, a step's name). */
  containers: { name: string; label: string; kind: 'checkout' | 'step' }[];
  /** Where a previous worker stopped (see `log-checkpoint.ts`); updated in place. */
  checkpoint: LogCheckpoint;
  /** Persists the checkpoint; called before the lines it covers go to the sink. */
  save(checkpoint: LogCheckpoint): Promise<void>;
  /** @default 500 */
  flushMs?: number;
  /** First pause before opening a log again after an error (doubles up to 5 s). @default 500 */
  retryMs?: number;
}

/** A follow stream quiet for this long after its container ended is taken as finished. */
const STALL_AFTER_END_MS = 2_000;
const MAX_RETRY_MS = 5_000;
const FINAL_READ_ATTEMPTS = 3;

/**
 * Streams each container's log, one container after the other (they run one after the other), to
 * the log sink as `stdout` lines (Kubernetes merges a container's stdout and stderr), between
 * system lines marking each step's start and exit, like the local runner. The pod's state comes
 * from the caller's watch through {@link observe}. Nothing here judges the attempt: a log that
 * cannot be read (the node is gone) becomes a system line, never a failure.
 */
export class LogPump {
  readonly #o: LogPumpOptions;
  #pod: V1Pod | undefined;
  /** The attempt ended: no container will start any more. */
  #final = false;
  /** Stop reading (the grace period is over, or the worker is going away). */
  #stopped = false;
  /** Leave the sink open: another worker will resume from the checkpoint. */
  #abandoned = false;
  #wake: (() => void) | undefined;
  #abortStream: (() => void) | undefined;
  #following = false;
  #pending: LogLine[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #error: unknown;
  readonly done: Promise<void>;

  constructor(options: LogPumpOptions) {
    this.#o = options;
    this.done = options.checkpoint.ended ? Promise.resolve() : this.#run();
    // Awaited by `finish`; after `stop` nobody may, and a failure then is not worth a crash.
    this.done.catch(() => undefined);
  }

  /** The latest state of the pod, from the caller's watch. */
  observe(pod: V1Pod): void {
    this.#pod = pod;
    this.#wake?.();
  }

  /**
   * The attempt has ended: read what is left (at most `graceMs` more), then close the sink.
   * Resolves when the log is complete (or given up on).
   */
  async finish(graceMs: number): Promise<void> {
    this.#final = true;
    // A follow stream may outlive its container (some kubelets keep it open): stop following now;
    // the plain read that comes next takes the rest from the checkpoint, so nothing is lost.
    if (this.#following) this.#abortStream?.();
    this.#wake?.();
    const timer = setTimeout(() => {
      this.#stopped = true;
      this.#abortStream?.();
      this.#wake?.();
    }, graceMs);
    try {
      await this.done;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading without closing the sink (the worker is going away; another one resumes). */
  stop(): void {
    this.#stopped = true;
    this.#abandoned = true;
    this.#abortStream?.();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const { checkpoint, containers } = this.#o;
    try {
      for (const container of containers) {
        if (checkpoint.containers[container.name]?.done) continue;
        await this.#until(() => this.#started(container.name) || this.#final);
        if (this.#stopped) break;
        if (!this.#started(container.name)) {
          // The pod ended before this container ran (an earlier step failed): nothing to read.
          checkpoint.containers[container.name] = { n: 0, done: true };
          continue;
        }
        let cp = checkpoint.containers[container.name];
        if (cp === undefined) {
          cp = { n: 0 };
          checkpoint.containers[container.name] = cp;
          this.#system(container.kind === 'checkout' ? '▶ checkout' : `▶ step: ${container.label}`);
        }
        await this.#readContainer(container.name, cp);
        if (this.#stopped) break;
        const exit = this.#exitCode(container.name);
        if (exit !== undefined) this.#system(`${exit === 0 ? '✔' : '✖'} exit ${exit}`);
        cp.done = true;
      }
      if (this.#abandoned) return;
      checkpoint.ended = true;
      await this.#flush();
      await this.#o.sink.close();
    } catch (err) {
      this.#error = err;
    } finally {
      clearTimeout(this.#flushTimer);
    }
    if (this.#error !== undefined) throw this.#error;
  }

  /** Follows the container while it runs, then one plain read to its end (nothing is lost to a broken stream). */
  async #readContainer(name: string, cp: ContainerCheckpoint): Promise<void> {
    let retryMs = this.#o.retryMs ?? 500;
    let lastError: unknown;
    while (!this.#terminated(name) && !this.#final && !this.#stopped) {
      try {
        await this.#read(name, cp, true);
        retryMs = this.#o.retryMs ?? 500;
      } catch (err) {
        lastError = err;
        await this.#sleep(retryMs);
        retryMs = Math.min(MAX_RETRY_MS, retryMs * 2);
      }
    }
    for (let attempt = 1; attempt <= FINAL_READ_ATTEMPTS && !this.#stopped; attempt++) {
      try {
        await this.#read(name, cp, false);
        return;
      } catch (err) {
        lastError = err;
        if (this.#gone()) break;
        await this.#sleep(retryMs);
      }
    }
    if (!this.#stopped) {
      const reason = lastError instanceof Error ? lastError.message : String(lastError ?? 'unknown');
      this.#system(`⚠ log of ${name} unavailable: ${reason}`);
    }
  }

  /** One read of the log from the checkpoint; resolves when the stream ends. */
  async #read(name: string, cp: ContainerCheckpoint, follow: boolean): Promise<void> {
    const { stream, abort } = await this.#o.source.open(name, { follow, sinceTime: sinceTimeOf(cp.ts) });
    this.#abortStream = abort;
    this.#following = follow;
    if (this.#stopped || (follow && this.#final)) abort();
    const seen: { ts?: string; n: number } = { n: 0 };
    let keep = false;
    let lastData = Date.now();
    const splitter = createLineSplitter((raw) => {
      const parsed = splitTimestamped(raw);
      if (parsed === undefined) {
        // The continuation of a line cut for its length: it goes where its line went.
        if (keep) this.#line('stdout', raw);
        return;
      }
      keep = isNewLine(cp, parsed.ts, seen);
      if (!keep) return;
      cp.n = cp.ts === parsed.ts ? cp.n + 1 : 1;
      cp.ts = parsed.ts;
      this.#line('stdout', parsed.text);
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const guard = setInterval(() => {
          if (this.#stopped || (this.#terminated(name) && Date.now() - lastData > STALL_AFTER_END_MS))
            abort();
        }, 500);
        const end = (err?: unknown) => {
          clearInterval(guard);
          if (err) reject(err instanceof Error ? err : new Error(String(err)));
          else resolve();
        };
        stream.on('data', (chunk: Buffer) => {
          lastData = Date.now();
          splitter.push(chunk);
        });
        stream.once('end', () => end());
        stream.once('close', () => end());
        stream.once('error', end);
      });
    } finally {
      this.#abortStream = undefined;
      this.#following = false;
      splitter.end();
    }
  }

  #line(stream: LogLine['stream'], text: string): void {
    const { target, checkpoint } = this.#o;
    checkpoint.seq += 1;
    this.#pending.push({ ...target, seq: checkpoint.seq, ts: Date.now(), stream, text });
    if (this.#flushTimer === undefined) {
      this.#flushTimer = setTimeout(() => void this.#flush().catch(() => undefined), this.#o.flushMs ?? 500);
    }
  }

  #system(text: string): void {
    this.#line('system', text);
  }

  /** Saves the checkpoint as it is now, then hands the lines it covers to the sink, in order. */
  #flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const lines = this.#pending;
    this.#pending = [];
    const snapshot = structuredClone(this.#o.checkpoint);
    this.#flushing = this.#flushing.then(async () => {
      if (this.#error !== undefined) return;
      try {
        await this.#o.save(snapshot);
        if (lines.length > 0) await this.#o.sink.write(lines);
      } catch (err) {
        this.#error ??= err;
      }
    });
    return this.#flushing.then(() => {
      if (this.#error !== undefined) throw this.#error;
    });
  }

  #status(name: string) {
    return this.#pod === undefined ? undefined : orderedStatuses(this.#pod).find((c) => c.name === name);
  }

  #started(name: string): boolean {
    const state = this.#status(name)?.state;
    return state?.running !== undefined || state?.terminated !== undefined;
  }

  #terminated(name: string): boolean {
    return this.#status(name)?.state?.terminated !== undefined;
  }

  #exitCode(name: string): number | undefined {
    return this.#status(name)?.state?.terminated?.exitCode;
  }

  /** Whether the pod is gone, so its logs are too. */
  #gone(): boolean {
    return this.#pod?.metadata?.deletionTimestamp !== undefined;
  }

  #until(condition: () => boolean): Promise<void> {
    return (async () => {
      while (!condition() && !this.#stopped) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
      }
      this.#wake = undefined;
    })();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
