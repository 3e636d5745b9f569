import { mkdirSync } from 'node:fs';
import { obtainTemporalCli } from '../infra/temporal/obtain-cli.ts';
import { startTemporalDevServer } from '../infra/temporal/dev-server.ts';
import type { KilnConfig } from '../shared/config.ts';
import { startApiServer } from '../workers/api-server.ts';
import { dataDirs } from '../workers/data-dirs.ts';
import { createPorts } from '../workers/ports.ts';
import { startKilnWorkers } from '../workers/start-workers.ts';
import { installRuntime } from '../workers/runtime.ts';
import { KilnApiClient } from './api-client.ts';
import { ensureSampleRepository } from './example-repo.ts';
import { followBuild } from './follow.ts';

const step = (message: string): void => console.log(`• ${message}`);

/**
 * `kiln up`: the whole system on one machine. Starts the Temporal dev server (SQLite under the
 * data directory, so builds survive a restart), the workers and the API, runs the sample build,
 * then serves until Ctrl-C, which stops everything it started.
 */
export async function up(config: KilnConfig, options: { sample: boolean }): Promise<void> {
  const dirs = dataDirs(config.KILN_DATA_DIR);
  mkdirSync(dirs.root, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
  };

  try {
    let uiUrl: string | undefined;
    if (config.KILN_TEMPORAL_ADDRESS === 'embedded') {
      const cliPath = await obtainTemporalCli({ onProgress: step });
      step('starting Temporal dev server');
      const server = await startTemporalDevServer({
        cliPath,
        dbFile: dirs.temporalDb,
        port: config.KILN_TEMPORAL_PORT,
        uiPort: config.KILN_TEMPORAL_UI_PORT,
        namespace: config.KILN_TEMPORAL_NAMESPACE,
        logFile: dirs.temporalLog,
      });
      stops.push(() => server.stop());
      uiUrl = server.uiUrl;
    }

    installRuntime(config);
    step('bundling workflows and starting workers');
    const ports = await createPorts(config);
    stops.push(() => ports.close());
    const workers = await startKilnWorkers(config, ports);
    stops.push(() => workers.stop());

    const api = await startApiServer(config, ports);
    stops.push(() => api.close());

    console.log('');
    console.log(`  Kiln API         ${api.url}   (token: KILN_API_TOKEN)`);
    if (uiUrl) console.log(`  Temporal Web UI  ${uiUrl}`);
    console.log(`  Webhook          ${api.url}/webhooks/github`);
    console.log('');

    if (options.sample) {
      const repo = ensureSampleRepository(dirs.examples);
      const client = new KilnApiClient(api.url, config.KILN_API_TOKEN);
      const { buildId } = await client.startBuild({
        cloneUrl: repo,
        repo: 'examples/sample-project',
        ref: 'main',
      });
      step(`sample build ${buildId}`);
      const final = await followBuild(client, buildId);
      console.log(`\nsample build ${final.status}; serving webhooks until Ctrl-C`);
    } else {
      console.log('serving until Ctrl-C');
    }

    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    step('stopping');
  } finally {
    await stopAll();
  }
}
