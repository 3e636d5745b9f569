import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTemporalDevServer } from '../infra/temporal/dev-server.ts';
import { obtainTemporalCli } from '../infra/temporal/obtain-cli.ts';
import { loadConfig } from '../shared/config.ts';
import { startApiServer } from '../workers/api-server.ts';
import { dataDirs } from '../workers/data-dirs.ts';
import { createPorts } from '../workers/ports.ts';
import { startKilnWorkers } from '../workers/start-workers.ts';
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
  const ports = await createPorts(config);
  const workers = await startKilnWorkers(config, ports);
  const api = await startApiServer(config, ports);
  return {
    api,
    config,
    dataDir,
    async stop() {
      await api.close();
      await workers.stop();
      await ports.close();
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
