import { serve, type ServerType } from '@hono/node-server';
import { Client, Connection } from '@temporalio/client';
import { resolve } from 'node:path';
import { FileProjectRegistry } from '../adapters/projects/file-projects.ts';
import { createApp } from '../api/app.ts';
import { BuildService } from '../api/build-service.ts';
import { ProjectService } from '../api/project-service.ts';
import type { KilnConfig } from '../shared/config.ts';
import type { KilnPorts } from './ports.ts';
import { temporalAddress } from './temporal-address.ts';

export interface RunningApi {
  url: string;
  client: Client;
  close(): Promise<void>;
}

/**
 * Starts the HTTP API with one Temporal client for the whole process. Projects listed in
 * `KILN_PROJECTS_FILE` are imported into the build history database first.
 */
export async function startApiServer(
  config: KilnConfig,
  ports: Pick<KilnPorts, 'logs' | 'follow' | 'store' | 'secrets' | 'quota' | 'rateLimiter'> &
    Partial<Pick<KilnPorts, 'artifacts'>>,
): Promise<RunningApi> {
  const projects = new ProjectService({ store: ports.store, secrets: ports.secrets });
  const imported = await projects.importFrom(
    FileProjectRegistry.load(resolve(config.KILN_PROJECTS_FILE)).list(),
  );
  if (imported.length > 0)
    console.log(`imported ${imported.length} project(s) from ${config.KILN_PROJECTS_FILE}`);

  const connection = await Connection.connect({ address: temporalAddress(config) });
  const client = new Client({ connection, namespace: config.KILN_TEMPORAL_NAMESPACE });
  const builds = new BuildService({
    client,
    store: ports.store,
    taskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
    settings: {
      runnerTaskQueue: config.KILN_RUNNER_TASK_QUEUE,
      maxJobsInFlight: config.KILN_MAX_JOBS_IN_FLIGHT,
      heartbeatTimeoutMs: config.KILN_RUNNER_HEARTBEAT_TIMEOUT,
      infraRetryBackoffMs: config.KILN_INFRA_RETRY_BACKOFF,
      quotaLeaseMs: config.KILN_QUOTA_LEASE,
    },
  });
  const app = createApp({
    builds,
    projects,
    store: ports.store,
    secrets: ports.secrets,
    quota: ports.quota,
    rateLimiter: ports.rateLimiter,
    webhookRatePerMinute: config.KILN_WEBHOOK_RATE_PER_MINUTE,
    logs: ports.logs,
    follow: ports.follow,
    artifacts: ports.artifacts,
    apiToken: config.KILN_API_TOKEN,
    checkTemporal: async () => {
      await connection.workflowService.getSystemInfo({});
    },
  });
  const server: ServerType = await new Promise((ready) => {
    const s = serve({ fetch: app.fetch, hostname: config.KILN_API_HOST, port: config.KILN_API_PORT }, () =>
      ready(s),
    );
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.KILN_API_PORT;
  return {
    url: `http://${config.KILN_API_HOST}:${port}`,
    client,
    async close() {
      await new Promise<void>((done) => server.close(() => done()));
      await connection.close();
    },
  };
}
