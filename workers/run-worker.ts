import { loadConfigOrExit } from './load-config.ts';
import { createPorts } from './ports.ts';
import { installRuntime } from './runtime.ts';
import { startKilnWorkers, type WorkerRole } from './start-workers.ts';
import { temporalAddress } from './temporal-address.ts';

export type { WorkerRole };

/** Runs Kiln workers of the given roles in this process until SIGINT/SIGTERM. */
export async function runWorker(roles: WorkerRole[]): Promise<void> {
  const config = loadConfigOrExit();
  installRuntime(config);
  const ports = await createPorts(config);
  const workers = await startKilnWorkers(config, ports, roles);
  console.log(`kiln worker (${roles.join(' + ')}) ready on ${temporalAddress(config)}`);
  try {
    await workers.done;
  } finally {
    await ports.close();
  }
}
