import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArchiveBuffer } from '../../adapters/logs/archive-buffer.ts';
import { listChunks } from '../../adapters/logs/chunks.ts';
import type { LogRecord } from '../../adapters/logs/log-records.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import type { ObjectStore } from '../../adapters/objects/port.ts';
import { eventually } from '../helpers/processes.ts';
import { makeLines, newTarget, readArchive } from './pipeline-contract.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-archive-buffer-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** A store whose chunk writes wait until released, to look at the offsets in between. */
function gatedStore(): { objects: ObjectStore; release(): void; waiting(): number } {
  const inner = new DirObjectStore({ root: join(root, crypto.randomUUID()) });
  let gates: (() => void)[] = [];
  const objects: ObjectStore = {
    get: (key, options) => inner.get(key, options),
    head: (key) => inner.head(key),
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    put: async (key, body, options) => {
      if (key.endsWith('.log.gz')) await new Promise<void>((resolve) => gates.push(resolve));
      return inner.put(key, body, options);
    },
  };
  return {
    objects,
    waiting: () => gates.length,
    release: () => {
      const open = gates;
      gates = [];
      for (const gate of open) gate();
    },
  };
}

describe('ArchiveBuffer', () => {
  it('commits past a frame only once every chunk holding its lines is stored', async () => {
    const { objects, release, waiting } = gatedStore();
    const buffer = new ArchiveBuffer({ objects, flushMs: 60_000, flushBytes: 2_000 });
    const target = newTarget();
    const frame: LogRecord = { type: 'lines', lines: makeLines(target, 1, 100) };
    await buffer.add({ partition: 0, records: [{ offset: 0, record: frame }], nextOffset: 1 });
    // The frame filled several chunks, none stored yet.
    expect(await eventually(() => waiting() > 1, 2_000)).toBe(true);
    expect(buffer.safeOffsets().get(0)).toBe(0);
    release();
    await new Promise((r) => setTimeout(r, 50));
    // The frame's last lines are still buffered: offset 0 is not safe to pass yet.
    expect(buffer.safeOffsets().get(0)).toBe(0);
    buffer.flushDue(true);
    expect(await eventually(() => waiting() === 1, 2_000)).toBe(true);
    release();
    await buffer.drain();
    expect(buffer.safeOffsets().get(0)).toBe(1);
    expect((await readArchive(objects, target)).map((l) => l.seq)).toEqual(
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
  });

  it('skips lines already archived when it meets an attempt again after a restart', async () => {
    const objects = new DirObjectStore({ root: join(root, crypto.randomUUID()) });
    const target = newTarget();
    const lines = makeLines(target, 1, 50);
    const first = new ArchiveBuffer({ objects, flushMs: 60_000, flushBytes: 1_000_000 });
    await first.add({
      partition: 0,
      records: [{ offset: 0, record: { type: 'lines', lines: lines.slice(0, 30) } }],
      nextOffset: 1,
    });
    first.flushDue(true);
    await first.drain();
    // A new member re-reads offset 0 (never committed) and the next frame.
    const second = new ArchiveBuffer({ objects, flushMs: 60_000, flushBytes: 1_000_000 });
    await second.add({
      partition: 0,
      records: [
        { offset: 0, record: { type: 'lines', lines: lines.slice(0, 30) } },
        { offset: 1, record: { type: 'lines', lines: lines.slice(30) } },
        { offset: 2, record: { type: 'end', end: { ...target, lastSeq: 50, ts: 1 } } },
      ],
      nextOffset: 3,
    });
    const chunks = await listChunks(objects, target);
    expect(chunks.map((c) => c.firstSeq)).toEqual([1, 31]);
    expect((await readArchive(objects, target)).map((l) => l.seq)).toEqual(lines.map((l) => l.seq));
    expect(second.safeOffsets().get(0)).toBe(3);
  });
});
