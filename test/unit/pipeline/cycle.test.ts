import { describe, expect, it } from 'vitest';
import { findCycles, topologicalOrder } from '../../../shared/pipeline/cycle.ts';

const graph = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

describe('findCycles', () => {
  it('finds nothing in a DAG', () => {
    expect(findCycles(graph({ a: [], b: ['a'], c: ['a', 'b'], d: ['c'] }))).toEqual([]);
  });

  it('reports each cycle once, from the job first in the file', () => {
    const cycles = findCycles(graph({ setup: [], c: ['a'], a: ['setup', 'b'], b: ['c'] }));
    expect(cycles).toEqual([['c', 'a', 'b', 'c']]);
  });

  it('reports separate cycles separately, in file order', () => {
    const cycles = findCycles(graph({ x: ['y'], a: ['b'], b: ['a'], y: ['x'] }));
    expect(cycles).toEqual([
      ['x', 'y', 'x'],
      ['a', 'b', 'a'],
    ]);
  });

  it('prints a shortest way round when a group has several loops', () => {
    // a → b → c → d → a, and the shortcut a → d: the loop shown is a → d → a.
    expect(findCycles(graph({ a: ['b', 'd'], b: ['c'], c: ['d'], d: ['a'] }))).toEqual([['a', 'd', 'a']]);
  });

  it('ignores needs on unknown ids', () => {
    expect(findCycles(graph({ a: ['ghost'] }))).toEqual([]);
  });

  it('copes with a long chain without overflowing the stack', () => {
    const ids = Array.from({ length: 20_000 }, (_, i) => `j${i}`);
    const chain = graph(
      Object.fromEntries(ids.map((id, i) => [id, i === 0 ? [ids.at(-1)!] : [ids[i - 1]!]])),
    );
    const cycles = findCycles(chain);
    expect(cycles).toHaveLength(1);
    expect(cycles[0]).toHaveLength(20_001);
  });
});

describe('topologicalOrder', () => {
  it('puts every id after its needs and otherwise keeps file order', () => {
    const order = topologicalOrder(graph({ deploy: ['test'], docs: [], test: ['build'], build: [] }));
    expect(order).toEqual(['build', 'test', 'deploy', 'docs']);
  });

  it('keeps file order when nothing constrains it', () => {
    expect(topologicalOrder(graph({ c: [], a: [], b: [] }))).toEqual(['c', 'a', 'b']);
  });

  it('terminates even if a cycle slipped through', () => {
    expect(topologicalOrder(graph({ a: ['b'], b: ['a'] })).sort()).toEqual(['a', 'b']);
  });
});
