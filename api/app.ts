import { Hono } from 'hono';
import type { ArtifactStore } from '../adapters/artifacts/artifact-store.ts';
import { createFileFollower } from '../adapters/logs/file-follow.ts';
import { FileLogStore } from '../adapters/logs/file-logs.ts';
import type { LogFollower } from '../adapters/logs/follow.ts';
import type { LogStore } from '../adapters/logs/port.ts';
import type { ProjectionStore } from '../adapters/projections/port.ts';
import type { ProjectSecrets } from '../adapters/secrets/port.ts';
import type { QuotaBroker } from '../adapters/quota/port.ts';
import type { RateLimiter } from '../adapters/ratelimit/port.ts';
import type { BuildService } from './build-service.ts';
import type { ProjectService } from './project-service.ts';
import { errorBody, handleError } from './errors.ts';
import { bearerAuth } from './middleware/bearer-auth.ts';
import { openApiDocument } from './openapi.ts';
import { artifactRoutes } from './routes/artifacts.ts';
import { buildRoutes } from './routes/builds.ts';
import { badgeRoute, projectRoutes } from './routes/projects.ts';
import { secretRoutes } from './routes/secrets.ts';
import { metricsRoutes, queueRoutes } from './routes/queue.ts';
import { webhookRoutes } from './routes/webhooks.ts';

export interface ApiDeps {
  builds: BuildService;
  projects: ProjectService;
  store: ProjectionStore;
  secrets: ProjectSecrets;
  quota: QuotaBroker;
  rateLimiter: RateLimiter;
  /** Webhooks accepted per organisation per minute before 429. */
  webhookRatePerMinute: number;
  logs: LogStore;
  /**
   * Follows a job attempt's log as it is written (`?follow=1`).
   * @default over the NDJSON files of `logs` when it is a `FileLogStore`
   */
  follow?: LogFollower;
  /** Build artifacts; absent: the artifact routes answer 501. */
  artifacts?: ArtifactStore | undefined;
  /** Bearer token for everything but the webhook and health. */
  apiToken: string;
  /** Resolves when the workflow engine answers; rejects otherwise. */
  checkTemporal: () => Promise<void>;
}

/** The embedded follower over the files of a `FileLogStore`; any other store needs its own. */
function defaultFollower(logs: LogStore): LogFollower | undefined {
  return logs instanceof FileLogStore ? createFileFollower(logs.logsDir) : undefined;
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
  app.route('/metrics', metricsRoutes(deps));

  app.route('/projects', badgeRoute(deps));

  const auth = bearerAuth({ token: deps.apiToken });
  for (const path of ['/builds', '/builds/*', '/projects', '/projects/*', '/queue']) app.use(path, auth);
  app.route('/builds', buildRoutes({ ...deps, follow: deps.follow ?? defaultFollower(deps.logs) }));
  app.route('/builds', artifactRoutes(deps));
  app.route('/projects', projectRoutes(deps));
  app.route('/projects', secretRoutes(deps));
  app.route('/queue', queueRoutes(deps));
  return app;
}
