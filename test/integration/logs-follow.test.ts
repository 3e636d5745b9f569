import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestRepo, type TestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';
import { sseReader, type SseEvent } from '../helpers/sse.ts';

interface Line {
  seq: number;
  ts: number;
  stream: string;
  text: string;
}

let kiln: Harness;
let repo: TestRepo;
beforeAll(async () => {
  kiln = await startHarness();
  repo = createTestRepo({
    '.ci.yaml': `
jobs:
  slow:
    steps:
      - run: 'echo first line; sleep 3; echo second line'
`,
  });
}, 60_000);
afterAll(async () => kiln?.stop());

/** Starts a build and waits until its pipeline is loaded (the job is known, not yet run). */
async function startBuild(): Promise<string> {
  const buildId = await kiln.startBuild({ cloneUrl: repo.url });
  await kiln.waitFor(buildId, (b) => b.jobs.some((j) => j.key === 'slow'));
  return buildId;
}

function follow(buildId: string, lastEventId?: number) {
  const headers: Record<string, string> =
    lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) };
  return kiln.api(`/builds/${buildId}/jobs/slow/logs?follow=1`, { headers });
}

/** Reads events until `stop` holds for one (included) or the stream ends. */
async function readUntil(
  reader: ReturnType<typeof sseReader>,
  stop: (event: SseEvent) => boolean,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for (let event = await reader.next(); event !== undefined; event = await reader.next()) {
    events.push(event);
    if (stop(event)) break;
  }
  return events;
}

const lineOf = (event: SseEvent): Line => JSON.parse(event.data) as Line;
const textIs = (text: string) => (event: SseEvent) =>
  event.event === 'message' && lineOf(event).text === text;

describe('following a job log with Server-Sent Events (embedded files)', () => {
  it('sees lines while the job runs, then an end event', async () => {
    const buildId = await startBuild();
    const res = await follow(buildId);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = sseReader(res);

    const early = await readUntil(reader, textIs('first line'));
    expect(early.at(-1)?.event).toBe('message');
    // The job still sleeps: the first line arrived live, not after the fact.
    const job = (await kiln.getBuild(buildId)).jobs.find((j) => j.key === 'slow')!;
    expect(job.status).toBe('running');

    const rest = await readUntil(reader, (e) => e.event === 'end');
    const events = [...early, ...rest];
    const end = events.at(-1)!;
    expect(end.event).toBe('end');
    const lines = events.filter((e) => e.event === 'message');
    const seqs = lines.map((e) => lineOf(e).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(lines.map((e) => e.id)).toEqual(seqs.map(String));
    expect(lines.map((e) => lineOf(e).text)).toContain('second line');
    expect(JSON.parse(end.data)).toEqual({ lastSeq: seqs.at(-1) });
    expect(await reader.next()).toBeUndefined();
  }, 60_000);

  it('resumes after a disconnect from Last-Event-ID without duplicates', async () => {
    const buildId = await startBuild();
    const first = sseReader(await follow(buildId));
    const before = await readUntil(first, textIs('first line'));
    await first.close();
    const lastId = Number(before.at(-1)!.id);
    expect(lastId).toBeGreaterThan(0);

    const res = await follow(buildId, lastId);
    expect(res.status).toBe(200);
    const after = await readUntil(sseReader(res), (e) => e.event === 'end');
    expect(after.at(-1)?.event).toBe('end');
    const seqs = [...before, ...after].filter((e) => e.event === 'message').map((e) => lineOf(e).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(after.filter((e) => e.event === 'message').map((e) => lineOf(e).text)).toContain('second line');

    // Once the job is over, a follow replays the rest and ends at once.
    await kiln.waitFor(buildId);
    const replay = await readUntil(
      sseReader(await follow(buildId, seqs.length - 1)),
      (e) => e.event === 'end',
    );
    expect(replay.map((e) => e.event)).toEqual(['message', 'end']);
    expect(lineOf(replay[0]!).seq).toBe(seqs.length);
  }, 60_000);
});
