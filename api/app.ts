import { Hono } from 'hono';
import type { LogStore } from '../adapters/logs/port.ts';
import type { ProjectRegistry } from '../adapters/projects/port.ts';
import type { BuildService } from './build-service.ts';
import { errorBody, handleError } from './errors.ts';
import { bearerAuth } from './middleware/bearer-auth.ts';
import { openApiDocument } from './openapi.ts';
import { buildRoutes } from './routes/builds.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export interface ApiDeps {
  builds: BuildService;
  projects: ProjectRegistry;
  logs: LogStore;
  /** Bearer token for everything but the webhook and health. */
  apiToken: string;
  /** Resolves when the workflow engine answers; rejects otherwise. */
  checkTemporal: () => Promise<void>;
}

/** The Kiln HTTP API. One sub-app per resource; errors mapped in one place. */
export function createApp(deps: ApiDeps): Hono {
  const app = new Hono();
  app.onError(handleError);
  app.notFound((c) => c.json(errorBody('NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`), 404));

  app.get('/healthz', async (c) => {
    try {
      await deps.checkTemporal();
      return c.json({ status: 'ok' });
    } catch (err) {
      return c.json(errorBody('UNAVAILABLE', `workflow engine unreachable: ${(err as Error).message}`), 503);
    }
  });
  app.get('/openapi.json', (c) => c.json(openApiDocument));
  app.route('/webhooks', webhookRoutes(deps));

  app.use('/builds/*', bearerAuth({ token: deps.apiToken }));
  app.use('/builds', bearerAuth({ token: deps.apiToken }));
  app.route('/builds', buildRoutes(deps));
  return app;
}
