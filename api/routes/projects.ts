import { Hono } from 'hono';
import { zValidator } from '@hono/zod-validator';
import { z } from 'zod';
import { MAX_PAGE_SIZE, type ProjectionStore } from '../../adapters/projections/port.ts';
import { NotFoundError } from '../../shared/errors.ts';
import { renderBadge } from '../badge.ts';
import { projectView, type ProjectService } from '../project-service.ts';
import { validationHook } from '../validation.ts';

const newProjectSchema = z.object({
  repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected "owner/name"'),
  cloneUrl: z.string().min(1),
  webhookSecret: z.string().min(16, 'must be at least 16 characters'),
  pipelinePath: z.string().min(1).optional(),
  tenant: z.string().min(1).max(100).optional(),
  weight: z.number().int().min(1).max(1000).optional(),
});

const buildListSchema = z.object({
  branch: z.string().min(1).optional(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled', 'errored']).optional(),
  event: z.enum(['push', 'pull_request', 'manual']).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  cursor: z.string().min(1).optional(),
});

const badgeSchema = z.object({ branch: z.string().min(1).optional() });

/** `/projects`: the registry and each project's build history. */
export function projectRoutes(deps: { projects: ProjectService; store: ProjectionStore }) {
  const app = new Hono();

  app.get('/', async (c) => c.json({ projects: (await deps.projects.list()).map(projectView) }));

  app.post('/', zValidator('json', newProjectSchema, validationHook), async (c) => {
    const project = await deps.projects.create(c.req.valid('json'));
    return c.json(projectView(project), 201);
  });

  app.get('/:id', async (c) => c.json(projectView(await requireProject(deps.projects, c.req.param('id')))));

  app.get('/:id/builds', zValidator('query', buildListSchema, validationHook), async (c) => {
    const project = await requireProject(deps.projects, c.req.param('id'));
    const page = await deps.store.listBuilds(project.id, c.req.valid('query'));
    return c.json(page);
  });

  return app;
}

/** `GET /projects/:id/badge.svg?branch=`: public, so it can sit in a README. */
export function badgeRoute(deps: { projects: ProjectService; store: ProjectionStore }) {
  const app = new Hono();
  app.get('/:id/badge.svg', zValidator('query', badgeSchema, validationHook), async (c) => {
    const project = await requireProject(deps.projects, c.req.param('id'));
    const { branch } = c.req.valid('query');
    const { builds } = await deps.store.listBuilds(project.id, { branch, limit: 1 });
    return c.body(renderBadge('build', builds[0]?.status ?? 'unknown'), 200, {
      'content-type': 'image/svg+xml; charset=utf-8',
      'cache-control': 'no-cache, max-age=0',
    });
  });
  return app;
}

async function requireProject(projects: ProjectService, id: string) {
  const project = await projects.get(id);
  if (!project) throw new NotFoundError('project', `project "${id}" not found`);
  return project;
}
