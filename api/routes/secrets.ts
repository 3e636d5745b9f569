import { Hono } from 'hono';
import { zValidator } from '@hono/zod-validator';
import { z } from 'zod';
import type { ProjectSecrets } from '../../adapters/secrets/port.ts';
import { NotFoundError } from '../../shared/errors.ts';
import type { ProjectService } from '../project-service.ts';
import { validationHook } from '../validation.ts';

const nameParam = z.object({
  id: z.string().min(1),
  name: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'secret names look like environment variables (A-Z, 0-9, _)'),
});
const valueBody = z.object({
  value: z
    .string()
    .min(1, 'must not be empty')
    .max(64 * 1024),
});

/**
 * `/projects/:id/secrets`: values are write-only. Listing returns names and update times; no
 * route ever returns a value.
 */
export function secretRoutes(deps: { projects: ProjectService; secrets: ProjectSecrets }) {
  const app = new Hono();

  app.get('/:id/secrets', async (c) => {
    const project = await requireProject(deps.projects, c.req.param('id'));
    return c.json({ secrets: await deps.secrets.listProjectSecrets(project.id) });
  });

  app.put(
    '/:id/secrets/:name',
    zValidator('param', nameParam, validationHook),
    zValidator('json', valueBody, validationHook),
    async (c) => {
      const { id, name } = c.req.valid('param');
      const project = await requireProject(deps.projects, id);
      return c.json(await deps.secrets.putProjectSecret(project.id, name, c.req.valid('json').value));
    },
  );

  app.delete('/:id/secrets/:name', zValidator('param', nameParam, validationHook), async (c) => {
    const { id, name } = c.req.valid('param');
    const project = await requireProject(deps.projects, id);
    await deps.secrets.deleteProjectSecret(project.id, name);
    return c.body(null, 204);
  });

  return app;
}

async function requireProject(projects: ProjectService, id: string) {
  const project = await projects.get(id);
  if (!project) throw new NotFoundError('project', `project "${id}" not found`);
  return project;
}
