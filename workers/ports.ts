import { FileLogStore } from '../adapters/logs/file-logs.ts';
import type { LogStore } from '../adapters/logs/port.ts';
import { createPgProjectionStore } from '../adapters/projections/pg-store.ts';
import { createPGliteProjectionStore } from '../adapters/projections/pglite-store.ts';
import type { ProjectionStore } from '../adapters/projections/port.ts';
import { LocalRunnerBackend } from '../adapters/runner/local/local-runner-backend.ts';
import type { RunnerBackend } from '../adapters/runner/port.ts';
import { EncryptedFileSecretStore } from '../adapters/secrets/encrypted-file-secrets.ts';
import type { SecretStore } from '../adapters/secrets/port.ts';
import { GitVcs } from '../adapters/vcs/git-vcs.ts';
import type { Vcs } from '../adapters/vcs/port.ts';
import type { KilnConfig } from '../shared/config.ts';
import { dataDirs } from './data-dirs.ts';

export interface KilnPorts {
  vcs: Vcs;
  runner: RunnerBackend;
  logs: LogStore;
  store: ProjectionStore;
  secrets: SecretStore;
  /** Closes what holds connections or files. */
  close(): Promise<void>;
}

/** The one place where configuration selects adapters. Migrates the build history database. */
export async function createPorts(config: KilnConfig): Promise<KilnPorts> {
  const dirs = dataDirs(config.KILN_DATA_DIR);
  const store = await createProjectionStore(config);
  await store.migrate();
  return {
    vcs: new GitVcs({ mirrorsDir: dirs.mirrors }),
    runner: new LocalRunnerBackend({
      runnersDir: dirs.runners,
      mirrorsDir: dirs.mirrors,
      logsDir: dirs.logs,
    }),
    logs: new FileLogStore({ logsDir: dirs.logs }),
    store,
    secrets: new EncryptedFileSecretStore({
      file: dirs.secrets,
      keyFile: config.KILN_SECRETS_KEY_FILE ?? dirs.secretsKey,
    }),
    close: () => store.close(),
  };
}

/** PGlite under the data directory (`embedded`), or PostgreSQL. */
export async function createProjectionStore(config: KilnConfig): Promise<ProjectionStore> {
  if (config.KILN_DATABASE_URL === 'embedded') {
    return createPGliteProjectionStore({ dataDir: dataDirs(config.KILN_DATA_DIR).pglite });
  }
  return createPgProjectionStore({
    url: config.KILN_DATABASE_URL,
    maxConnections: config.KILN_DATABASE_POOL_SIZE,
  });
}
