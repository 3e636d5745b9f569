import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, suggest } from '../../../shared/pipeline/suggest.ts';

describe('editDistance', () => {
  it.each([
    ['needs', 'needs', 0],
    ['neds', 'needs', 1],
    ['nedes', 'needs', 1], // a swap of neighbours counts once
    ['', 'abc', 3],
    ['abc', '', 3],
    ['kitten', 'sitting', 3],
  ])('%s → %s is %i', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('suggest', () => {
  const jobKeys = ['name', 'needs', 'steps', 'env', 'timeout', 'retries', 'image', 'matrix', 'if'];

  it.each([
    ['neds', 'needs'],
    ['setps', 'steps'],
    ['timout', 'timeout'],
    ['Image', 'image'],
    ['retry', 'retries'],
    ['matirx', 'matrix'],
  ])('suggests %s → %s', (word, expected) => {
    expect(suggest(word, jobKeys)).toBe(expected);
  });

  it('suggests nothing for a word far from every candidate', () => {
    expect(suggest('services', jobKeys)).toBeUndefined();
    expect(suggest('x', ['build', 'test'])).toBeUndefined();
  });

  it('never suggests the word itself', () => {
    expect(suggest('needs', ['needs'])).toBeUndefined();
  });

  it('prefers the closest candidate, then the first listed', () => {
    expect(suggest('tast', ['test', 'task'])).toBe('test');
    expect(suggest('tesk', ['task', 'test'])).toBe('task');
    expect(suggest('bulid', ['build-all', 'build'])).toBe('build');
  });

  it('formats the hint', () => {
    expect(didYouMean('biuld', ['build', 'test'])).toBe(' (did you mean "build"?)');
    expect(didYouMean('zzz', ['build', 'test'])).toBe('');
  });
});
