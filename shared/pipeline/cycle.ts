/**
 * Graph checks on `needs`: cycles, and an order in which every job comes after what it needs.
 * Both work on job ids before matrix expansion: expansion copies edges but cannot create cycles.
 */

/** A dependency graph: for each id, in file order, the ids it needs. */
export type NeedsGraph = ReadonlyMap<string, readonly string[]>;

/**
 * One cycle per group of jobs that wait on each other, as a path that returns to its start
 * (`['a', 'b', 'c', 'a']`: a needs b, b needs c, c needs a). Each starts at the group's job that
 * comes first in the file and is a shortest way back to it, so messages are short and stable.
 */
export function findCycles(graph: NeedsGraph): string[][] {
  const order = [...graph.keys()];
  const cycles: string[][] = [];
  for (const group of stronglyConnected(graph)) {
    if (group.size < 2) continue;
    const start = order.find((id) => group.has(id))!;
    cycles.push(shortestLoop(graph, start, group));
  }
  // Report groups in the order of their first job in the file.
  return cycles.sort((a, b) => order.indexOf(a[0]!) - order.indexOf(b[0]!));
}

/** Tarjan's algorithm, iterative so that a long chain of needs cannot overflow the stack. */
function stronglyConnected(graph: NeedsGraph): Set<string>[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const groups: Set<string>[] = [];
  let counter = 0;
  const targets = (id: string) => (graph.get(id) ?? []).filter((next) => graph.has(next));

  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { id: string; next: number }[] = [{ id: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = targets(frame.id);
      if (frame.next < edges.length) {
        const next = edges[frame.next++]!;
        if (!index.has(next)) {
          index.set(next, counter);
          low.set(next, counter++);
          stack.push(next);
          onStack.add(next);
          work.push({ id: next, next: 0 });
        } else if (onStack.has(next)) {
          low.set(frame.id, Math.min(low.get(frame.id)!, index.get(next)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.id, Math.min(low.get(parent.id)!, low.get(frame.id)!));
      if (low.get(frame.id) === index.get(frame.id)) {
        const group = new Set<string>();
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          group.add(member);
        } while (member !== frame.id);
        groups.push(group);
      }
    }
  }
  return groups;
}

/** Breadth-first from `start` back to itself, staying inside its group. */
function shortestLoop(graph: NeedsGraph, start: string, group: ReadonlySet<string>): string[] {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    for (const next of graph.get(id) ?? []) {
      if (!group.has(next)) continue;
      if (next === start) {
        const path = [id];
        while (path[0] !== start) path.unshift(cameFrom.get(path[0]!)!);
        return [...path, start];
      }
      if (!cameFrom.has(next) && next !== start) {
        cameFrom.set(next, id);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

/**
 * Ids ordered so that each comes after everything it needs, otherwise keeping file order.
 * Assumes no cycles (they are reported first); ids missing from the graph are ignored.
 */
export function topologicalOrder(graph: NeedsGraph): string[] {
  const seen = new Set<string>();
  const result: string[] = [];
  const visit = (id: string) => {
    // Marking before recursing ends the walk even if a cycle slipped through.
    if (seen.has(id) || !graph.has(id)) return;
    seen.add(id);
    for (const need of graph.get(id)!) visit(need);
    result.push(id);
  };
  for (const id of graph.keys()) visit(id);
  return result;
}
