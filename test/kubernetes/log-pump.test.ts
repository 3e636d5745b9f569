/**
 * The log pump against a scripted line source, for what the test cluster cannot be made to do on
 * purpose: a stream cut in the middle of a container's log, timestamps with trimmed fractions, a
 * log that never becomes readable. The real path (the API server serving the fake node's logs,
 * a takeover by another worker) is in kubernetes-runner-backend.test.ts.
 */
import { PassThrough, type Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { emptyCheckpoint, type LogCheckpoint } from '../../adapters/runner/kubernetes/log-checkpoint.ts';
import { LogPump, type LogSource } from '../../adapters/runner/kubernetes/log-pump.ts';
import type { LogLine, LogSink } from '../../adapters/logs/port.ts';

const target = { buildId: 'b-1', jobKey: 'test', attempt: 1 };
const containers = [
  { name: 'checkout', label: 'checkout', kind: 'checkout' as const },
  { name: 'step-1', label: 'build', kind: 'step' as const },
];

/** Both containers ended with exit 0. */
const finishedPod: V1Pod = {
  spec: { initContainers: [{ name: 'checkout' }], containers: [{ name: 'step-1' }] },
  status: {
    phase: 'Succeeded',
    initContainerStatuses: [terminated('checkout', 0)],
    containerStatuses: [terminated('step-1', 0)],
  },
} as V1Pod;

function terminated(name: string, exitCode: number) {
  return {
    name,
    image: 'x',
    imageID: '',
    ready: false,
    restartCount: 0,
    state: { terminated: { exitCode } },
  };
}

/** Serves fixed timestamped lines per container from `sinceTime` (second precision, as the API). */
function fakeSource(logs: Record<string, string[]>, options: { holdOpenAfter?: number } = {}) {
  const opened: { container: string; sinceTime?: string; follow: boolean }[] = [];
  const source: LogSource = {
    async open(container, { follow, sinceTime }) {
      opened.push({ container, sinceTime, follow });
      const lines = (logs[container] ?? []).filter(
        (l) => sinceTime === undefined || l.slice(0, 19) >= sinceTime.slice(0, 19),
      );
      const stream = new PassThrough();
      const served = options.holdOpenAfter === undefined ? lines : lines.slice(0, options.holdOpenAfter);
      stream.write(served.map((l) => `${l}\n`).join(''));
      if (options.holdOpenAfter === undefined) stream.end();
      return { stream: stream as Readable, abort: () => stream.end() };
    },
  };
  return { source, opened };
}

function memorySink() {
  const lines: LogLine[] = [];
  let closed = false;
  const sink: LogSink = {
    write: async (batch) => {
      lines.push(...batch);
    },
    close: async () => {
      closed = true;
    },
  };
  return { sink, lines, closed: () => closed };
}

const LOGS = {
  checkout: ['2026-03-01T12:00:00.1Z Cloning', '2026-03-01T12:00:00.25Z done'],
  'step-1': [
    '2026-03-01T12:00:01.000000001Z one',
    '2026-03-01T12:00:01.5Z two',
    '2026-03-01T12:00:01.5Z two again (same timestamp)',
    '2026-03-01T12:00:02Z three',
  ],
};

describe('log pump', () => {
  it('writes each container in order between system lines, with gapless seqs, then closes', async () => {
    const { source } = fakeSource(LOGS);
    const out = memorySink();
    const saved: LogCheckpoint[] = [];
    const pump = new LogPump({
      source,
      sink: out.sink,
      target,
      containers,
      checkpoint: emptyCheckpoint(),
      save: async (cp) => void saved.push(cp),
      flushMs: 10,
    });
    pump.observe(finishedPod);
    await pump.finish(5_000);
    expect(out.lines.map((l) => `${l.seq} ${l.stream} ${l.text}`)).toEqual([
      '1 system ▶ checkout',
      '2 stdout Cloning',
      '3 stdout done',
      '4 system ✔ exit 0',
      '5 system ▶ step: build',
      '6 stdout one',
      '7 stdout two',
      '8 stdout two again (same timestamp)',
      '9 stdout three',
      '10 system ✔ exit 0',
    ]);
    expect(out.closed()).toBe(true);
    expect(saved.at(-1)?.ended).toBe(true);
  });

  it('resumes from the checkpoint of a worker that stopped, without repeating or losing a line', async () => {
    const checkpoint = emptyCheckpoint();
    const saves: LogCheckpoint[] = [];
    const firstOut = memorySink();
    // The first worker sees step-1 running and has read two of its lines when it dies.
    const runningPod = structuredClone(finishedPod);
    runningPod.status!.phase = 'Running';
    runningPod.status!.containerStatuses = [
      { name: 'step-1', image: 'x', imageID: '', ready: true, restartCount: 0, state: { running: {} } },
    ];
    const first = new LogPump({
      source: fakeSource(LOGS, { holdOpenAfter: 2 }).source,
      sink: firstOut.sink,
      target,
      containers,
      checkpoint,
      save: async (cp) => void saves.push(cp),
      flushMs: 10,
    });
    first.observe(runningPod);
    await until(() => firstOut.lines.some((l) => l.text === 'two'));
    first.stop();
    await first.done;
    expect(firstOut.closed()).toBe(false);

    // The second worker starts from what the first one saved (the pod annotation).
    const resumed = structuredClone(saves.at(-1)!);
    const { source, opened } = fakeSource(LOGS);
    const secondOut = memorySink();
    const second = new LogPump({
      source,
      sink: secondOut.sink,
      target,
      containers,
      checkpoint: resumed,
      save: async () => {},
      flushMs: 10,
    });
    second.observe(finishedPod);
    await second.finish(5_000);
    expect(opened[0]).toMatchObject({ container: 'step-1', sinceTime: '2026-03-01T12:00:01Z' });
    const all = [...firstOut.lines, ...secondOut.lines];
    expect(all.map((l) => l.seq)).toEqual(all.map((_, i) => i + 1));
    expect(all.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual([
      'Cloning',
      'done',
      'one',
      'two',
      'two again (same timestamp)',
      'three',
    ]);
  });

  it('turns a log it cannot read into a system line, not a failure', async () => {
    const out = memorySink();
    const pump = new LogPump({
      source: { open: () => Promise.reject(new Error('node unreachable')) },
      sink: out.sink,
      target,
      containers: [containers[1]!],
      checkpoint: emptyCheckpoint(),
      save: async () => {},
      flushMs: 10,
      retryMs: 10,
    });
    pump.observe(finishedPod);
    await pump.finish(5_000);
    expect(out.lines.map((l) => l.text)).toEqual([
      '▶ step: build',
      '⚠ log of step-1 unavailable: node unreachable',
      '✔ exit 0',
    ]);
  });
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
