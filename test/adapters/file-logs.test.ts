import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileLogSinkFactory, FileLogStore, logFilePath } from '../../adapters/logs/file-logs.ts';
import type { LogLine } from '../../adapters/logs/port.ts';
import { tempDir } from './fixtures.ts';

describe('file logs', () => {
  const tmp = tempDir('logs');
  afterAll(() => tmp.cleanup());
  const logsDir = tmp.path;
  const openSink = createFileLogSinkFactory(logsDir);
  const store = new FileLogStore({ logsDir });

  const lines = (target: { buildId: string; jobKey: string; attempt: number }, from: number, count: number) =>
    Array.from({ length: count }, (_, i): LogLine => ({
      ...target,
      seq: from + i,
      ts: 1_700_000_000_000 + from + i,
      stream: i % 3 === 2 ? 'stderr' : i % 3 === 1 ? 'system' : 'stdout',
      text: `line ${from + i} ✓ "quoted"`,
    }));

  const readAll = async (buildId: string, jobKey: string, attempt: number) => {
    const out: LogLine[] = [];
    for await (const line of store.read(buildId, jobKey, attempt)) out.push(line);
    return out;
  };

  it('reads back what was written, in order, with every field', async () => {
    const target = { buildId: 'b1', jobKey: 'test', attempt: 1 };
    const sink = openSink(target);
    const written = [...lines(target, 1, 3), ...lines(target, 4, 5)];
    await sink.write(written.slice(0, 3));
    await sink.write(written.slice(3));
    await sink.close();
    expect(await readAll('b1', 'test', 1)).toEqual(written);
    const path = logFilePath(logsDir, target);
    expect(path).toBe(join(logsDir, 'b1', 'test', '1.ndjson'));
    expect(readFileSync(path, 'utf8').trim().split('\n')).toHaveLength(8);
  });

  it('flushes a batch after 200 ms, and at once past 64 KB', async () => {
    const small = { buildId: 'b2', jobKey: 'timer', attempt: 1 };
    const sink = openSink(small);
    await sink.write(lines(small, 1, 2));
    expect(existsSync(logFilePath(logsDir, small))).toBe(false); // still buffered
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(await readAll('b2', 'timer', 1)).toHaveLength(2);
    await sink.close();

    const big = { buildId: 'b2', jobKey: 'size', attempt: 1 };
    const bigSink = openSink(big);
    const many = lines(big, 1, 2_000); // about 120 KB of NDJSON
    await bigSink.write(many);
    expect((await readAll('b2', 'size', 1)).length).toBe(2_000);
    await bigSink.close();
  });

  it('lists attempts ascending, and none for an unknown job', async () => {
    for (const attempt of [2, 10, 1]) {
      const target = { buildId: 'b3', jobKey: 'build', attempt };
      const sink = openSink(target);
      await sink.write(lines(target, 1, 1));
      await sink.close();
    }
    expect(await store.attempts('b3', 'build')).toEqual([1, 2, 10]);
    expect(await store.attempts('b3', 'nothing')).toEqual([]);
    expect(await store.attempts('no-build', 'build')).toEqual([]);
    expect(await readAll('b3', 'build', 7)).toEqual([]);
  });

  it('skips a last line that is still being written', async () => {
    const target = { buildId: 'b4', jobKey: 'partial', attempt: 1 };
    const sink = openSink(target);
    await sink.write(lines(target, 1, 2));
    await sink.close();
    appendFileSync(logFilePath(logsDir, target), '{"seq":3,"ts":17000000');
    expect((await readAll('b4', 'partial', 1)).map((l) => l.seq)).toEqual([1, 2]);
  });

  it('streams: the first line arrives while the file is still open for writing', async () => {
    // A FIFO never ends while its writer holds it open: reading it whole would hang.
    const target = { buildId: 'b5', jobKey: 'fifo', attempt: 1 };
    const path = logFilePath(logsDir, target);
    mkdirSync(dirname(path), { recursive: true });
    execFileSync('mkfifo', [path]);
    const iterator = store.read('b5', 'fifo', 1)[Symbol.asyncIterator]();
    const first = iterator.next();
    const writer = await open(path, 'w');
    try {
      await writer.write(`${JSON.stringify({ seq: 1, ts: 1, stream: 'stdout', text: 'hello' })}\n`);
      await writer.write(`${JSON.stringify({ seq: 2, ts: 2, stream: 'stdout', text: 'world' })}\n`);
      const result = await first;
      expect(result.done).toBe(false);
      expect(result.value).toMatchObject({ seq: 1, text: 'hello' });
      await iterator.return?.();
    } finally {
      await writer.close();
    }
  });

  it('rejects ids that would leave the logs directory', async () => {
    expect(() => openSink({ buildId: '..', jobKey: 'x', attempt: 1 })).toThrow(/file-safe/);
    expect(() => openSink({ buildId: 'b', jobKey: 'a/b', attempt: 1 })).toThrow(/file-safe/);
    await expect(store.read('b', '..', 1)[Symbol.asyncIterator]().next()).rejects.toThrow(/file-safe/);
    await expect(store.attempts('../etc', 'x')).rejects.toThrow(/file-safe/);
  });
});
