import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createTemporalNotifier } from '../adapters/notify/temporal-notifier.ts';
import { startTemporalDevServer } from '../infra/temporal/dev-server.ts';
import { obtainTemporalCli } from '../infra/temporal/obtain-cli.ts';
import { loadConfig } from '../shared/config.ts';
import { startApiServer } from '../workers/api-server.ts';
import { bundleWorkflows, createKilnWorkers } from '../workers/create-workers.ts';
import { dataDirs } from '../workers/data-dirs.ts';
import { createPorts } from '../workers/ports.ts';
import { installRuntime } from '../workers/runtime.ts';

/**
 * The embedded stack as `kiln up` runs it (Temporal dev server on SQLite in WAL mode, workers and
 * the HTTP API in one process), on free ports in a temporary data directory.
 */
export async function startBenchStack(projects: unknown[], log: (m: string) => void) {
  const dataDir = mkdtempSync(join(tmpdir(), 'kiln-bench-'));
  const dirs = dataDirs(dataDir);
  const cliPath = await obtainTemporalCli({ onProgress: log });
  const server = await startTemporalDevServer({
    cliPath,
    dbFile: dirs.temporalDb,
    uiPort: false,
    onProgress: log,
  });
  const projectsFile = join(dataDir, 'projects.yaml');
  writeFileSync(projectsFile, JSON.stringify({ projects }));
  const config = loadConfig({
    KILN_DATA_DIR: dataDir,
    KILN_TEMPORAL_ADDRESS: server.address,
    KILN_API_PORT: '0',
    KILN_PROJECTS_FILE: projectsFile,
    KILN_LOG_LEVEL: 'warn',
  });
  installRuntime(config);
  const connection = await NativeConnection.connect({ address: server.address });
  const ports = await createPorts(config);
  const notifierConnection = await Connection.connect({ address: server.address });
  const notifier = createTemporalNotifier(new Client({ connection: notifierConnection }));
  const workers = await createKilnWorkers({
    connection,
    namespace: config.KILN_TEMPORAL_NAMESPACE,
    orchestratorTaskQueue: config.KILN_ORCHESTRATOR_TASK_QUEUE,
    runnerTaskQueue: config.KILN_RUNNER_TASK_QUEUE,
    workflowBundle: await bundleWorkflows(),
    ports: { ...ports, notifier },
  });
  const running = workers.map((w) => w.run());
  const api = await startApiServer(config, ports);
  return {
    api,
    config,
    dataDir,
    async stop() {
      await api.close();
      for (const w of workers) w.shutdown();
      await Promise.allSettled(running);
      await connection.close();
      await notifierConnection.close();
      await ports.close();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
