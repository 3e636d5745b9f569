/**
 * Starts a persistent local Temporal server for Kiln until Ctrl-C:
 *
 *   npx node infra/temporal/start.ts
 *
 * State lives in `<KILN_DATA_DIR>/temporal.sqlite` (default `.kiln/`), the frontend listens on
 * KILN_TEMPORAL_PORT (7233) and the Web UI on KILN_TEMPORAL_UI_PORT (8233), both on 127.0.0.1.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../shared/config.ts';
import { startTemporalDevServer } from './dev-server.ts';
import { obtainTemporalCli } from './obtain-cli.ts';

const config = loadConfig(process.env);
const onProgress = (message: string): void => console.log(`[temporal] ${message}`);

await mkdir(config.KILN_DATA_DIR, { recursive: true });
const server = await startTemporalDevServer({
  cliPath: await obtainTemporalCli({ onProgress }),
  dbFile: join(config.KILN_DATA_DIR, 'temporal.sqlite'),
  port: config.KILN_TEMPORAL_PORT,
  uiPort: config.KILN_TEMPORAL_UI_PORT,
  namespace: config.KILN_TEMPORAL_NAMESPACE,
  logFile: join(config.KILN_DATA_DIR, 'temporal.log'),
  onProgress,
});

console.log(`Temporal frontend: ${server.address} (namespace ${server.namespace})`);
console.log(`Temporal Web UI:   ${server.uiUrl}`);
console.log('Press Ctrl-C to stop.');

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    console.log('[temporal] stopping…');
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  });
}
