import { startHealthServer } from './health-server.ts';
import { loadConfigOrExit, orExitOnConfigError } from './load-config.ts';
import { createPorts } from './ports.ts';
import { installRuntime } from './runtime.ts';
import { startKilnWorkers, type RunningWorkers, type WorkerRole } from './start-workers.ts';
import { temporalAddress } from './temporal-address.ts';

export type { WorkerRole };

/** Runs Kiln workers of the given roles in this process until SIGINT/SIGTERM. */
export async function runWorker(roles: WorkerRole[]): Promise<void> {
  const config = loadConfigOrExit();
  installRuntime(config);
  // Listening first: a taken port stops the process before it takes work, and probes see 503
  // (not ready) rather than a refused connection while the workers connect.
  let workers: RunningWorkers | undefined;
  const health =
    config.KILN_HEALTH_PORT === undefined
      ? undefined
      : await startHealthServer(config.KILN_HEALTH_PORT, () => workers?.healthy() ?? false);
  const ports = await orExitOnConfigError(createPorts(config));
  try {
    workers = await startKilnWorkers(config, ports, roles);
    console.log(`kiln worker (${roles.join(' + ')}) ready on ${temporalAddress(config)}`);
    await workers.done;
  } finally {
    await health?.close();
    await ports.close();
  }
}
