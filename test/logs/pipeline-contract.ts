import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LogArchiver } from '../../adapters/logs/archiver.ts';
import { ArchivedLogStore } from '../../adapters/logs/archived-log-store.ts';
import { listChunks, readChunk } from '../../adapters/logs/chunks.ts';
import { followLog, type FollowEvent } from '../../adapters/logs/follow.ts';
import { createMasker, withMasking } from '../../adapters/logs/masker.ts';
import type { LogEnd, LogLine, LogSinkFactory, LogTail, LogTarget } from '../../adapters/logs/port.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { eventually } from '../helpers/processes.ts';

/** One bus (Kafka or in-process) with its archive, fresh for each test. */
export interface Pipeline {
  factory: LogSinkFactory;
  tail: LogTail;
  objects: ObjectStore;
  archiver(options?: { flushMs?: number; flushBytes?: number }): LogArchiver;
  dispose(): Promise<void>;
}

export function newTarget(jobKey = 'test', attempt = 1): LogTarget {
  return { buildId: `b-${randomUUID().slice(0, 8)}`, jobKey, attempt };
}

export function makeLines(
  target: LogTarget,
  from: number,
  count: number,
  text = (seq: number) => `line ${seq} ✓`,
): LogLine[] {
  return Array.from({ length: count }, (_, i) => ({
    ...target,
    seq: from + i,
    ts: Date.now(),
    stream: i % 5 === 4 ? 'stderr' : 'stdout',
    text: text(from + i),
  }));
}

/** Collects a subscription until its end (or the timeout). */
export async function tailUntilEnd(
  tail: LogTail,
  target: LogTarget,
  fromSeq: number,
  act: () => Promise<void>,
  timeoutMs = 20_000,
): Promise<{ lines: LogLine[]; end: LogEnd }> {
  const lines: LogLine[] = [];
  let resolveEnd: (end: LogEnd) => void = () => {};
  const ended = new Promise<LogEnd>((resolve) => (resolveEnd = resolve));
  const unsubscribe = await tail.subscribe(target, fromSeq, {
    onLine: (l) => lines.push(l),
    onEnd: resolveEnd,
  });
  try {
    await act();
    const end = await Promise.race([
      ended,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no end after ${lines.length} lines`)), timeoutMs),
      ),
    ]);
    return { lines, end };
  } finally {
    unsubscribe();
  }
}

export async function readArchive(objects: ObjectStore, target: LogTarget): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const line of new ArchivedLogStore({ objects }).read(
    target.buildId,
    target.jobKey,
    target.attempt,
  ))
    out.push(line);
  return out;
}

async function waitForManifest(objects: ObjectStore, target: LogTarget, timeoutMs = 30_000): Promise<void> {
  const store = new ArchivedLogStore({ objects });
  const found = await eventually(async () => (await store.manifest(target)) !== undefined, timeoutMs);
  if (!found) throw new Error(`no manifest for ${target.buildId} within ${timeoutMs} ms`);
}

function expectSeqs(lines: LogLine[], from: number, to: number): void {
  const seqs = lines.map((l) => l.seq);
  expect(seqs.length).toBe(to - from + 1);
  expect(seqs).toEqual(Array.from({ length: to - from + 1 }, (_, i) => from + i));
}

/** What every log bus with its archiver guarantees, end to end. */
export function logPipelineContract(name: string, pipeline: () => Promise<Pipeline>): void {
  describe(`${name}: log pipeline contract`, () => {
    it('delivers the lines of each job in order to a live tail, then the end', async () => {
      const p = await pipeline();
      try {
        const a = newTarget('a');
        const b = { ...a, jobKey: 'b' };
        const sinkA = p.factory(a);
        const sinkB = p.factory(b);
        const { lines, end } = await tailUntilEnd(p.tail, a, 1, async () => {
          for (let i = 0; i < 20; i++) {
            await sinkA.write(makeLines(a, i * 25 + 1, 25));
            await sinkB.write(makeLines(b, i * 10 + 1, 10));
          }
          await sinkB.close();
          await sinkA.close();
        });
        expectSeqs(lines, 1, 500);
        expect(lines.every((l) => l.jobKey === 'a' && l.buildId === a.buildId)).toBe(true);
        expect(lines[41]?.text).toBe('line 42 ✓');
        expect(lines[4]?.stream).toBe('stderr');
        expect(end).toMatchObject({ ...a, lastSeq: 500 });
      } finally {
        await p.dispose();
      }
    });

    it('shows each line to a live tail while the job is still writing (under a second)', async () => {
      const p = await pipeline();
      try {
        const target = newTarget();
        const sink = p.factory(target);
        const seen: LogLine[] = [];
        const unsubscribe = await p.tail.subscribe(target, 1, { onLine: (l) => seen.push(l) });
        const latencies: number[] = [];
        for (let seq = 1; seq <= 10; seq++) {
          const started = performance.now();
          await sink.write(makeLines(target, seq, 1));
          expect(await eventually(() => seen.length === seq, 1_000), `line ${seq}`).toBe(true);
          latencies.push(performance.now() - started);
        }
        unsubscribe();
        await sink.close();
        expect(Math.max(...latencies)).toBeLessThan(1_000);
      } finally {
        await p.dispose();
      }
    });

    it('resumes a tail from a seq, and splits over-long and unprintable output without losing it', async () => {
      const p = await pipeline();
      try {
        const target = newTarget();
        const sink = p.factory(target);
        const long = 'x'.repeat(150 * 1024);
        await sink.write([...makeLines(target, 1, 3), { ...makeLines(target, 4, 1)[0]!, text: long }]);
        await sink.write(makeLines(target, 5, 2, () => 'bin\x00\x07\ud800'));
        await sink.close();
        const { lines, end } = await tailUntilEnd(p.tail, target, 3, async () => {});
        // 150 KiB became three lines (4, 5, 6); the two after shifted to 7 and 8.
        expectSeqs(lines, 3, 8);
        expect(
          lines
            .slice(1, 4)
            .map((l) => l.text)
            .join(''),
        ).toBe(long);
        expect(lines[4]?.text).toBe('bin\u2400\u2407\ufffd');
        expect(end.lastSeq).toBe(8);
      } finally {
        await p.dispose();
      }
    });

    it('archives ordered chunks and a manifest; the archived store reads every line once', async () => {
      const p = await pipeline();
      const archiver = p.archiver({ flushMs: 300, flushBytes: 16 * 1024 });
      await archiver.start();
      try {
        const target = newTarget();
        const sink = p.factory(target);
        for (let i = 0; i < 10; i++) await sink.write(makeLines(target, i * 200 + 1, 200));
        await sink.close();
        await waitForManifest(p.objects, target);
        const lines = await readArchive(p.objects, target);
        expectSeqs(lines, 1, 2000);
        expect(lines[1999]).toMatchObject({ ...target, seq: 2000, text: 'line 2000 ✓' });
        const chunks = await listChunks(p.objects, target);
        expect(chunks.length).toBeGreaterThan(3);
        const store = new ArchivedLogStore({ objects: p.objects });
        expect(await store.attempts(target.buildId, target.jobKey)).toEqual([1]);
        expect(await store.manifest(target)).toMatchObject({
          lastSeq: 2000,
          chunks: chunks.map((c) => ({ key: c.key })),
        });
        const resumed: LogLine[] = [];
        for await (const line of store.readFrom(target, 1500)) resumed.push(line);
        expectSeqs(resumed, 1500, 2000);
      } finally {
        await archiver.stop();
        await p.dispose();
      }
    });

    it('loses and duplicates nothing when the archiver stops without flushing and another takes over', async () => {
      const p = await pipeline();
      const first = p.archiver({ flushMs: 200, flushBytes: 8 * 1024 });
      await first.start();
      const target = newTarget();
      const sink = p.factory(target);
      let second: LogArchiver | undefined;
      try {
        for (let i = 0; i < 10; i++) {
          await sink.write(makeLines(target, i * 100 + 1, 100));
          await new Promise((r) => setTimeout(r, 40));
        }
        expect(await eventually(async () => (await listChunks(p.objects, target)).length > 0, 10_000)).toBe(
          true,
        );
        await first.stop({ flush: false }); // like a crash: buffers and uncommitted offsets are gone
        for (let i = 10; i < 20; i++) await sink.write(makeLines(target, i * 100 + 1, 100));
        second = p.archiver({ flushMs: 200, flushBytes: 8 * 1024 });
        await second.start();
        for (let i = 20; i < 30; i++) await sink.write(makeLines(target, i * 100 + 1, 100));
        await sink.close();
        await waitForManifest(p.objects, target);
        const lines = await readArchive(p.objects, target);
        expectSeqs(lines, 1, 3000);
        // Rewrites go to the same keys: the raw chunks hold each line once too.
        let stored = 0;
        for (const chunk of await listChunks(p.objects, target))
          for await (const _ of readChunk(p.objects, chunk.key)) stored++;
        expect(stored).toBe(3000);
      } finally {
        await second?.stop();
        await p.dispose();
      }
    });

    it('follows a log: archived lines, then live ones, then the end; and resumes after a disconnect', async () => {
      const p = await pipeline();
      const archiver = p.archiver({ flushMs: 100, flushBytes: 4 * 1024 });
      await archiver.start();
      try {
        const target = newTarget();
        const sink = p.factory(target);
        await sink.write(makeLines(target, 1, 300));
        expect(await eventually(async () => (await listChunks(p.objects, target)).length > 1, 10_000)).toBe(
          true,
        );
        const archive = new ArchivedLogStore({ objects: p.objects });
        const events: FollowEvent[] = [];
        const controller = new AbortController();
        const following = (async () => {
          for await (const event of followLog({ archive, tail: p.tail, target, signal: controller.signal })) {
            events.push(event);
            if (events.length === 350) controller.abort(); // the client disconnects
          }
        })();
        await sink.write(makeLines(target, 301, 100));
        await following;
        const seen = events.map((e) => (e.type === 'line' ? e.line.seq : -1));
        expect(seen).toEqual(Array.from({ length: 350 }, (_, i) => i + 1));
        // Reconnect with Last-Event-ID 350 while more lines come, until the end.
        const resumed: FollowEvent[] = [];
        const resuming = (async () => {
          for await (const event of followLog({ archive, tail: p.tail, target, fromSeq: 351 }))
            resumed.push(event);
        })();
        await sink.write(makeLines(target, 401, 100));
        await sink.close();
        await resuming;
        expect(resumed.at(-1)).toEqual({ type: 'end', lastSeq: 500 });
        expectSeqs(
          resumed.slice(0, -1).map((e) => (e as { line: LogLine }).line),
          351,
          500,
        );
        // Once archived with a manifest, a follower gets the whole log and the end at once.
        await waitForManifest(p.objects, target);
        const replay: FollowEvent[] = [];
        for await (const event of followLog({ archive, tail: p.tail, target })) replay.push(event);
        expect(replay).toHaveLength(501);
      } finally {
        await archiver.stop();
        await p.dispose();
      }
    });

    it('masks secrets before they reach the tail or the archive', async () => {
      const p = await pipeline();
      const archiver = p.archiver({ flushMs: 100 });
      await archiver.start();
      try {
        const target = newTarget();
        const secret = 'sk_live_0123456789';
        const sink = withMasking(p.factory(target), createMasker([secret]));
        const { lines } = await tailUntilEnd(p.tail, target, 1, async () => {
          await sink.write(
            makeLines(
              target,
              1,
              3,
              (seq) => `${seq}: key=${secret} b64=${Buffer.from(secret).toString('base64')}`,
            ),
          );
          await sink.close();
        });
        expect(lines.map((l) => l.text)).toEqual([
          '1: key=*** b64=***',
          '2: key=*** b64=***',
          '3: key=*** b64=***',
        ]);
        await waitForManifest(p.objects, target);
        const archived = await readArchive(p.objects, target);
        expect(archived.map((l) => l.text)).toEqual(lines.map((l) => l.text));
      } finally {
        await archiver.stop();
        await p.dispose();
      }
    });
  });
}
