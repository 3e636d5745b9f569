import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { zValidator } from '@hono/zod-validator';
import { z } from 'zod';
import { streamSSE } from 'hono/streaming';
import type { LogFollower } from '../../adapters/logs/follow.ts';
import type { LogLine, LogStore, LogTarget } from '../../adapters/logs/port.ts';
import { isFinalBuildStatus, isFinalJobStatus } from '../../shared/build-state.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { BuildService } from '../build-service.ts';
import type { ProjectService } from '../project-service.ts';
import { validationHook } from '../validation.ts';

const manualBuildSchema = z
  .object({
    /** A registered project (`owner/name`)... */
    project: z.string().min(1).optional(),
    /** ...or any clone URL / local path, built ad hoc under the name `repo`. */
    cloneUrl: z.string().min(1).optional(),
    repo: z.string().min(1).optional(),
    ref: z.string().min(1).default('main'),
    sha: z
      .string()
      .regex(/^[0-9a-f]{40}$/, 'expected a full 40-character commit sha')
      .optional(),
    pipelinePath: z.string().min(1).optional(),
  })
  .refine((b) => (b.project === undefined) !== (b.cloneUrl === undefined), {
    message: 'give exactly one of "project" or "cloneUrl"',
    path: ['project'],
  });

const logsQuerySchema = z.object({
  attempt: z.coerce.number().int().min(1).optional(),
  timestamps: z.enum(['0', '1', 'true', 'false']).optional(),
  follow: z.enum(['0', '1', 'true', 'false']).optional(),
});

/** What the log routes read: the stored logs, and how to follow an attempt as it is written. */
export interface LogDeps {
  logs: LogStore;
  /** Absent: `?follow=1` is answered 501. */
  follow?: LogFollower | undefined;
}

/** `/builds`: start manual builds, read live state, cancel, read job logs. */
export function buildRoutes(deps: { builds: BuildService; projects: ProjectService } & LogDeps) {
  const app = new Hono();

  app.post('/', zValidator('json', manualBuildSchema, validationHook), async (c) => {
    const body = c.req.valid('json');
    const project =
      body.project !== undefined
        ? await deps.projects.findByRepo(body.project)
        : await deps.projects.ensureAdHoc(
            body.repo ?? repoNameOf(body.cloneUrl!),
            body.cloneUrl!,
            body.pipelinePath,
          );
    if (!project) throw new NotFoundError('project', `project "${body.project}" not found`);
    const { ref, branch, tag } = normaliseRef(body.ref);
    const { buildId, number } = await deps.builds.start(BuildService.newBuildId(), {
      projectId: project.id,
      tenant: project.tenant,
      repo: project.repo,
      cloneUrl: body.cloneUrl ?? project.cloneUrl,
      pipelinePath: body.pipelinePath ?? project.pipelinePath,
      ref,
      sha: body.sha,
      branch,
      tag,
      event: 'manual',
      actor: 'api',
    });
    return c.json({ buildId, number, url: `/builds/${buildId}` }, 201);
  });

  app.get('/:id', async (c) => c.json(await deps.builds.get(c.req.param('id'))));

  app.get('/:id/jobs', async (c) => c.json({ jobs: (await deps.builds.get(c.req.param('id'))).jobs }));

  app.post('/:id/cancel', async (c) => {
    const state = await deps.builds.cancel(c.req.param('id'), 'cancelled through the API');
    return c.json(state, 202);
  });

  app.get('/:id/jobs/:job/logs', zValidator('query', logsQuerySchema, validationHook), async (c) => {
    const buildId = c.req.param('id');
    const jobKey = c.req.param('job');
    const query = c.req.valid('query');
    if (query.follow === '1' || query.follow === 'true') {
      const follow = deps.follow;
      if (follow === undefined) {
        throw new HTTPException(501, {
          message: 'following logs is not configured on this server',
          cause: { code: 'NOT_IMPLEMENTED' },
        });
      }
      const target = await followTarget(deps, buildId, jobKey, query.attempt);
      const lastEventId = c.req.header('last-event-id');
      const resumeAfter = lastEventId !== undefined && /^\d+$/.test(lastEventId) ? Number(lastEventId) : 0;
      c.header('x-kiln-attempt', String(target.attempt));
      return streamSSE(c, async (stream) => {
        const abort = new AbortController();
        stream.onAbort(() => abort.abort());
        const events = follow({
          target,
          fromSeq: resumeAfter + 1,
          signal: abort.signal,
          ended: () => attemptEnded(deps.builds, target),
        });
        for await (const event of events) {
          if (event.type === 'end') {
            await stream.writeSSE({ event: 'end', data: JSON.stringify({ lastSeq: event.lastSeq }) });
            return;
          }
          const { seq, ts, stream: source, text } = event.line;
          await stream.writeSSE({ id: String(seq), data: JSON.stringify({ seq, ts, stream: source, text }) });
        }
      });
    }
    const attempts = await deps.logs.attempts(buildId, jobKey);
    if (attempts.length === 0) {
      // No logs yet: tell an unknown build or job apart from one that has not printed anything.
      const build = await deps.builds.get(buildId);
      if (!build.jobs.some((j) => j.key === jobKey)) {
        throw new NotFoundError('job', `build "${buildId}" has no job "${jobKey}"`);
      }
      return c.text('');
    }
    const attempt = query.attempt ?? attempts[attempts.length - 1]!;
    if (!attempts.includes(attempt)) {
      throw new HTTPException(404, {
        message: `job "${jobKey}" has no attempt ${attempt} (attempts: ${attempts.join(', ')})`,
        cause: { code: 'NOT_FOUND' },
      });
    }
    const withTimestamps = query.timestamps === '1' || query.timestamps === 'true';
    return new Response(textStream(deps.logs.read(buildId, jobKey, attempt), withTimestamps), {
      headers: { 'content-type': 'text/plain; charset=utf-8', 'x-kiln-attempt': String(attempt) },
    });
  });

  return app;
}

/**
 * The attempt a follow reads: the one asked for, else the job's current one (whose log may not
 * exist yet). Unknown builds and jobs are 404.
 */
async function followTarget(
  deps: { builds: BuildService; logs: LogStore },
  buildId: string,
  jobKey: string,
  attempt: number | undefined,
): Promise<LogTarget> {
  const build = await deps.builds.get(buildId);
  const job = build.jobs.find((j) => j.key === jobKey);
  if (job === undefined) throw new NotFoundError('job', `build "${buildId}" has no job "${jobKey}"`);
  if (attempt !== undefined) return { buildId, jobKey, attempt };
  const logged = await deps.logs.attempts(buildId, jobKey);
  return { buildId, jobKey, attempt: Math.max(job.attempt, logged[logged.length - 1] ?? 1, 1) };
}

/** True once no line of the attempt can follow: the build is over, or the job moved past the attempt. */
async function attemptEnded(builds: BuildService, target: LogTarget): Promise<boolean> {
  const build = await builds.get(target.buildId);
  const job = build.jobs.find((j) => j.key === target.jobKey);
  if (isFinalBuildStatus(build.status) || job === undefined) return true;
  return job.attempt > target.attempt || (job.attempt === target.attempt && isFinalJobStatus(job.status));
}

/** `main` → refs/heads/main; `refs/tags/v1` → tag v1; a full ref is kept as it is. */
export function normaliseRef(input: string): { ref: string; branch?: string; tag?: string } {
  if (input.startsWith('refs/heads/')) return { ref: input, branch: input.slice(11) };
  if (input.startsWith('refs/tags/')) return { ref: input, tag: input.slice(10) };
  if (input.startsWith('refs/') || input === 'HEAD') return { ref: input };
  return { ref: `refs/heads/${input}`, branch: input };
}

/** `local/<last path segment>`: the project an ad-hoc build of a clone URL is recorded under. */
function repoNameOf(cloneUrl: string): string {
  const name =
    cloneUrl
      .replace(/\/+$/, '')
      .replace(/\.git$/, '')
      .split('/')
      .pop() || 'repository';
  return `local/${name}`;
}

/** Streams log lines as text without holding the whole log in memory. */
function textStream(lines: AsyncIterable<LogLine>, withTimestamps: boolean): ReadableStream<Uint8Array> {
  const iterator = lines[Symbol.asyncIterator]();
  const encoder = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) {
        controller.close();
        return;
      }
      const line = next.value;
      const prefix = withTimestamps ? `${new Date(line.ts).toISOString()} ` : '';
      controller.enqueue(encoder.encode(`${prefix}${line.text}\n`));
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
