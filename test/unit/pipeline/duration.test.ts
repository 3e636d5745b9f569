import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../shared/pipeline/index.ts';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['90s', 90_000],
    ['20m', 1_200_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2m30s', 150_000],
    ['1h0m5s250ms', 3_605_250],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    ['  20m  ', 1_200_000],
    ['0s', 0],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '',
    '90',
    '5 minutes',
    '5 m',
    '1d',
    '20M',
    '-5s',
    '1h 30m',
    'm',
    '30m1h', // units must go from the largest down
    '1m1m',
    '10s5ms2s',
    '1.h',
    '.5h',
    '1e3s',
  ])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('rejects a duration too long to count', () => {
    expect(parseDuration(`${'9'.repeat(400)}h`)).toBeUndefined();
  });
});
