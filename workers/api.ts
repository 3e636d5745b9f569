/** API entry point: `node workers/api.ts`. Serves until SIGINT/SIGTERM. */
import { FileLogStore } from '../adapters/logs/file-logs.ts';
import { dataDirs } from './data-dirs.ts';
import { loadConfigOrExit } from './load-config.ts';
import { startApiServer } from './api-server.ts';

const config = loadConfigOrExit();
const api = await startApiServer(config, new FileLogStore({ logsDir: dataDirs(config.KILN_DATA_DIR).logs }));
console.log(`kiln api listening on ${api.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void api.close().then(() => process.exit(0)));
}
