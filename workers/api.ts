/** API entry point: `node workers/api.ts`. Serves until SIGINT/SIGTERM. */
import { loadConfigOrExit, orExitOnConfigError } from './load-config.ts';
import { createPorts } from './ports.ts';
import { startApiServer } from './api-server.ts';

const config = loadConfigOrExit();
const ports = await orExitOnConfigError(createPorts(config));
const api = await startApiServer(config, ports);
console.log(`kiln api listening on ${api.url}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(
    signal,
    () =>
      void api
        .close()
        .then(() => ports.close())
        .then(() => process.exit(0)),
  );
}
