import { describe, expect, it } from 'vitest';
import { createMasker, withMasking } from '../../adapters/logs/masker.ts';
import type { LogLine, LogSink } from '../../adapters/logs/port.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('createMasker', () => {
  const secret = 'hunter2-Pa$$w0rd/+?&';
  const mask = createMasker([secret, 'abc']);

  it('masks a plain value wherever it appears, every time', () => {
    expect(mask(`password=${secret} and again ${secret}!`)).toBe('password=*** and again ***!');
  });

  it('masks the base64 forms: padded, unpadded, URL-safe, and inside a longer base64 text', () => {
    expect(mask(`token ${b64(secret)}`)).toBe('token ***');
    expect(mask(b64(secret).replace(/=+$/, ''))).toBe('***');
    expect(mask(Buffer.from(secret).toString('base64url'))).toBe('***');
    // A basic-auth header: base64("user:" + secret) at every alignment.
    for (const user of ['u', 'us', 'use', 'user']) {
      const header = b64(`${user}:${secret}`);
      const masked = mask(`Authorization: Basic ${header}`);
      expect(masked, user).toContain('***');
      expect(masked.length, user).toBeLessThan(`Authorization: Basic ${header}`.length - 10);
    }
  });

  it('masks the URL-encoded forms', () => {
    expect(mask(`https://x.test/?p=${encodeURIComponent(secret)}`)).toBe('https://x.test/?p=***');
    const spaced = createMasker(['open sesame now']);
    expect(spaced('q=open+sesame+now')).toBe('q=***');
    expect(spaced('q=open%20sesame%20now')).toBe('q=***');
  });

  it('masks each line of a multi-line secret, and the whole of it', () => {
    const key = '-----BEGIN KEY-----\nMIIEowIBAAKCAQEA1\nq8w9e7r6t5y4u3i2\n-----END KEY-----';
    const keyMask = createMasker([key]);
    expect(keyMask('MIIEowIBAAKCAQEA1')).toBe('***');
    expect(keyMask('  q8w9e7r6t5y4u3i2  ')).toBe('  ***  ');
    expect(keyMask(JSON.stringify({ key }))).toBe('{"key":"***"}');
    // base64 wrapped at 76 columns, as `base64` prints it.
    const wrapped = b64(key).match(/.{1,76}/g) ?? [];
    expect(wrapped.length).toBeGreaterThan(1);
    for (const line of wrapped.slice(0, -1)) expect(keyMask(line)).toBe('***');
  });

  it('ignores values shorter than 4 characters and leaves other text alone', () => {
    expect(mask('abc abcd')).toBe('abc abcd');
    expect(createMasker([])('anything')).toBe('anything');
    expect(createMasker(['', 'ab'])('ab')).toBe('ab');
  });

  it('prefers the longest match, and treats regex characters literally', () => {
    const m = createMasker(['secret', 'secret-longer', 'a.b*c']);
    expect(m('secret-longer secret axbbc a.b*c')).toBe('*** *** axbbc ***');
  });

  it('is fast enough for a busy log: 50 secrets over 20 MB of text in well under a second per 10 MB', () => {
    const many = createMasker(Array.from({ length: 50 }, (_, i) => `s3cr3t-value-${i}-${'x'.repeat(i % 7)}`));
    const line =
      'INFO 2026-01-01T00:00:00Z request handled in 12ms path=/api/v1/things user=alice status=200';
    const started = performance.now();
    let bytes = 0;
    while (bytes < 20 * 1024 * 1024) {
      many(line);
      bytes += line.length;
    }
    const msPer10MB = ((performance.now() - started) / bytes) * 10 * 1024 * 1024;
    expect(msPer10MB).toBeLessThan(1000);
  });
});

describe('withMasking', () => {
  it('masks every line before the sink sees it', async () => {
    const seen: LogLine[] = [];
    const sink: LogSink = { write: async (lines) => void seen.push(...lines), close: async () => {} };
    const masked = withMasking(sink, createMasker(['tok-12345']));
    await masked.write([
      { buildId: 'b', jobKey: 'j', attempt: 1, seq: 1, ts: 0, stream: 'stdout', text: 'x tok-12345' },
    ]);
    expect(seen[0]?.text).toBe('x ***');
  });
});
