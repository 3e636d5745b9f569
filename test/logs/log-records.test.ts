import { describe, expect, it } from 'vitest';
import {
  decodeRecord,
  encodeRecord,
  frames,
  LineNormalizer,
  MAX_FRAME_BYTES,
  MAX_LINE_BYTES,
  printable,
} from '../../adapters/logs/log-records.ts';
import type { LogLine } from '../../adapters/logs/port.ts';

const target = { buildId: 'b', jobKey: 'j', attempt: 1 };
const line = (seq: number, text: string): LogLine => ({
  buildId: 'b',
  jobKey: 'j',
  attempt: 1,
  seq,
  ts: 1,
  stream: 'stdout',
  text,
});

describe('LineNormalizer', () => {
  it('keeps ordinary lines and their seqs as they are', () => {
    const n = new LineNormalizer();
    expect(n.normalize([line(1, 'a'), line(2, '\x1b[32mgreen\x1b[0m\ttab')], target)).toEqual([
      line(1, 'a'),
      line(2, '\x1b[32mgreen\x1b[0m\ttab'),
    ]);
    expect(n.lastSeq).toBe(2);
  });

  it('splits over-long lines without dropping a byte, and shifts later seqs to stay gapless', () => {
    const n = new LineNormalizer();
    const long = 'é'.repeat(MAX_LINE_BYTES); // 2 bytes each: 2 × 64 KiB
    const out = n.normalize([line(1, 'first'), line(2, long), line(3, 'after')], target);
    expect(out.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect(
      out
        .slice(1, 3)
        .map((l) => l.text)
        .join(''),
    ).toBe(long);
    for (const l of out) expect(Buffer.byteLength(l.text)).toBeLessThanOrEqual(MAX_LINE_BYTES);
    expect(n.normalize([line(4, 'next')], target)[0]?.seq).toBe(5);
    expect(n.lastSeq).toBe(5);
  });

  it('never splits a surrogate pair', () => {
    const n = new LineNormalizer();
    const emoji = '😀'.repeat(MAX_LINE_BYTES / 4 + 1);
    const out = n.normalize([line(1, emoji)], target);
    expect(out).toHaveLength(2);
    expect(out.map((l) => l.text).join('')).toBe(emoji);
    for (const l of out) expect(l.text.isWellFormed()).toBe(true);
  });

  it('splits embedded newlines into lines', () => {
    const out = new LineNormalizer().normalize([line(7, 'one\r\ntwo\nthree')], target);
    expect(out.map((l) => [l.seq, l.text])).toEqual([
      [7, 'one'],
      [8, 'two'],
      [9, 'three'],
    ]);
  });
});

describe('printable', () => {
  it('replaces control characters and broken UTF-16 with visible stand-ins, keeping tab and ESC', () => {
    expect(printable('nul\x00 bell\x07 cr\r del\x7f')).toBe('nul\u2400 bell\u2407 cr\u240d del\u2421');
    expect(printable('lone \ud800 surrogate \udc00')).toBe('lone \ufffd surrogate \ufffd');
    expect(printable('c1 \x9b[31m')).toBe('c1 \ufffd[31m');
    expect(printable('ok\t\x1b[1m😀')).toBe('ok\t\x1b[1m😀');
  });

  it('turns invalid UTF-8 (as decoded by Node) into replacement characters that survive encoding', () => {
    const decoded = Buffer.from([0x61, 0xff, 0xfe, 0x62, 0xc3]).toString('utf8');
    const text = printable(decoded);
    expect(Buffer.from(text).toString('utf8')).toBe(text);
    expect(text).toBe('a\ufffd\ufffdb\ufffd');
  });
});

describe('records', () => {
  it('round-trip as frames of lines and end records; anything else decodes to undefined', () => {
    const lines = [line(3, 'x "y"'), { ...line(4, 'z'), stream: 'stderr' as const }];
    expect(decodeRecord(encodeRecord({ type: 'lines', lines }))).toEqual({ type: 'lines', lines });
    const end = { buildId: 'b', jobKey: 'j', attempt: 2, lastSeq: 9, ts: 5 };
    expect(decodeRecord(encodeRecord({ type: 'end', end }))).toEqual({ type: 'end', end });
    expect(decodeRecord(Buffer.from('not json'))).toBeUndefined();
    expect(decodeRecord(Buffer.from('{"type":"lines"}'))).toBeUndefined();
    expect(decodeRecord(null)).toBeUndefined();
  });

  it('cuts a long write into frames of bounded size, in order', () => {
    const many = Array.from({ length: 3000 }, (_, i) => line(i + 1, 'y'.repeat(100)));
    const cut = frames(many);
    expect(cut.length).toBeGreaterThan(2);
    for (const record of cut) expect(encodeRecord(record).length).toBeLessThan(MAX_FRAME_BYTES * 1.5);
    expect(cut.flatMap((r) => (r.type === 'lines' ? r.lines : []))).toEqual(many);
  });
});
