import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { KilnConfig } from '../shared/config.ts';

let installed = false;

/** Benign worker messages: a runner worker has no workflows and no Nexus services by design. */
const EXPECTED = [/^No workflows registered/, /^No Nexus services registered/, /^Worker state changed/];

/**
 * Installs the Temporal runtime once per process. Kiln's `info` maps to the SDK's WARN: the
 * SDK's own INFO lines are worker state changes an operator does not need on every start.
 */
export function installRuntime(config: KilnConfig): void {
  if (installed) return;
  installed = true;
  const level: LogLevel =
    config.KILN_LOG_LEVEL === 'debug' ? 'DEBUG' : config.KILN_LOG_LEVEL === 'error' ? 'ERROR' : 'WARN';
  const logger = new DefaultLogger(level, (entry: LogEntry) => {
    if (EXPECTED.some((pattern) => pattern.test(entry.message))) return;
    const meta = entry.meta && Object.keys(entry.meta).length ? ` ${JSON.stringify(entry.meta)}` : '';
    console.error(
      `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta}`,
    );
  });
  Runtime.install({ logger, shutdownSignals: ['SIGINT', 'SIGTERM'] });
}
