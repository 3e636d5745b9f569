import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { KilnConfig } from '../shared/config.ts';

let installed = false;

/** Installs the Temporal runtime once per process with Kiln's log level. */
export function installRuntime(config: KilnConfig): void {
  if (installed) return;
  installed = true;
  const level = config.KILN_LOG_LEVEL.toUpperCase() as LogLevel;
  Runtime.install({ logger: new DefaultLogger(level), shutdownSignals: ['SIGINT', 'SIGTERM'] });
}
