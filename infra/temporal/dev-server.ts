import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, openSync, type WriteStream } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { KilnError } from '../../shared/errors.ts';
import { KILN_SEARCH_ATTRIBUTES, type SearchAttributeDefinition } from './search-attributes.ts';

export interface TemporalDevServerOptions {
  /** The `temporal` binary, usually from `obtainTemporalCli()`. */
  cliPath: string;
  /** SQLite file that keeps workflows across restarts (opened in WAL mode). @default in-memory */
  dbFile?: string;
  /** Frontend gRPC port; 0 or omitted picks a free one. */
  port?: number;
  /** Web UI port; 0 or omitted picks a free one; `false` runs headless. */
  uiPort?: number | false;
  /** Namespace created at start (the `default` namespace always exists too). @default default */
  namespace?: string;
  /** The only address the server listens on. @default 127.0.0.1 */
  ip?: '127.0.0.1';
  /** Appends the server's output to this file (it is also kept in memory for error messages). */
  logFile?: string;
  /** Custom search attributes registered in every namespace. @default KILN_SEARCH_ATTRIBUTES */
  searchAttributes?: readonly SearchAttributeDefinition[];
  /** Extra dynamic config, e.g. `{ 'limit.numPendingChildExecutions.error': 4000 }`. @default {} */
  dynamicConfig?: Record<string, unknown>;
  /** How long to wait for the frontend to answer. @default 60000 */
  readyTimeoutMs?: number;
  /** Called with one human-readable line per step. */
  onProgress?: (message: string) => void;
}

export interface TemporalDevServer {
  /** Frontend `host:port` for `Connection.connect` / `NativeConnection.connect`. */
  readonly address: string;
  /** Web UI, unless headless. */
  readonly uiUrl?: string;
  readonly namespace: string;
  readonly pid: number;
  /** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. Safe to call twice. */
  stop(): Promise<void>;
}

/** The dev server did not start or did not answer; `logTail` holds its last output lines. */
export class TemporalServerError extends KilnError {
  readonly logTail: string;
  constructor(message: string, logTail: string) {
    super('TEMPORAL_SERVER_FAILED', logTail ? `${message}\n--- last server output ---\n${logTail}` : message);
    this.name = 'TemporalServerError';
    this.logTail = logTail;
  }
}

const STOP_GRACE_MS = 10_000;
const PORT_ATTEMPTS = 3;

/**
 * Starts `temporal server start-dev` bound to 127.0.0.1 and resolves once the frontend answers and
 * the namespace has its search attributes. The server stays in our process group and, on Linux,
 * receives SIGTERM when its parent dies (through `setpriv --pdeathsig`), so a crashed test run
 * does not leave it behind. Call from the main thread: on Linux the signal follows the spawning
 * thread, not the process.
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const picksPorts = !options.port || options.uiPort === undefined || options.uiPort === 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(options);
    } catch (error) {
      // A port picked by us may be taken by someone else before the server binds it: pick again.
      const portTaken = error instanceof TemporalServerError && /address already in use/i.test(error.logTail);
      if (!portTaken || !picksPorts || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

/** The `temporal` arguments for these options (exported for tests and documentation). */
export function devServerArgs(settings: {
  ip: string;
  port: number;
  uiPort: number | undefined;
  namespace: string;
  dbFile?: string;
  searchAttributes: readonly SearchAttributeDefinition[];
  dynamicConfig: Record<string, unknown>;
}): string[] {
  const args = ['server', 'start-dev', '--ip', settings.ip, '--port', String(settings.port)];
  args.push(...(settings.uiPort === undefined ? ['--headless'] : ['--ui-port', String(settings.uiPort)]));
  if (settings.dbFile !== undefined) {
    // WAL lets readers and the writer proceed together; NORMAL sync is safe with WAL.
    args.push('--db-filename', settings.dbFile);
    args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  }
  args.push('--namespace', settings.namespace);
  for (const { name, type } of settings.searchAttributes) args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(settings.dynamicConfig)) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  args.push('--log-level', 'warn');
  return args;
}

async function launch(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const progress = options.onProgress ?? (() => {});
  const ip = options.ip ?? '127.0.0.1';
  const namespace = options.namespace ?? 'default';
  const searchAttributes = options.searchAttributes ?? KILN_SEARCH_ATTRIBUTES;
  // A port given by the caller is checked first: the readiness probe would otherwise be answered
  // by whichever server already holds it.
  if (options.port) await assertPortFree(ip, options.port, 'frontend');
  if (options.uiPort) await assertPortFree(ip, options.uiPort, 'Web UI');
  const port = options.port || (await pickFreePort(ip));
  const uiPort = options.uiPort === false ? undefined : options.uiPort || (await pickFreePort(ip));
  const address = `${ip}:${port}`;
  const args = devServerArgs({
    ip,
    port,
    uiPort,
    namespace,
    dbFile: options.dbFile,
    searchAttributes,
    dynamicConfig: options.dynamicConfig ?? {},
  });

  const started = Date.now();
  progress(`starting Temporal dev server on ${address} (${options.dbFile ?? 'in-memory'})…`);
  const [command, commandArgs] = withParentDeathSignal(options.cliPath, args);
  const child = spawn(command, commandArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = new OutputLog(options.logFile);
  child.stdout.on('data', log.append);
  child.stderr.on('data', log.append);

  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    });
    child.once('error', (error) => {
      exit = error.message;
      resolve();
    });
  });
  // Last resort if the parent exits without calling stop(): ask the server to shut down too.
  const stopOnExit = (): void => void child.kill('SIGTERM');
  process.once('exit', stopOnExit);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.off('exit', stopOnExit);
      if (exit === undefined) {
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(force);
      }
      await log.close();
    })();
    return stopping;
  };

  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const deadline = started + readyTimeoutMs;
  while (!(await answers(ip, port, namespace, searchAttributes))) {
    if (exit !== undefined) {
      await stop();
      throw new TemporalServerError(`Temporal dev server exited during start (${exit})`, log.tail());
    }
    if (Date.now() > deadline) {
      await stop();
      const within = `${readyTimeoutMs / 1000} s`;
      throw new TemporalServerError(
        `Temporal dev server did not answer on ${address} within ${within}`,
        log.tail(),
      );
    }
    await sleep(100);
  }

  const uiUrl = uiPort === undefined ? undefined : `http://${ip}:${uiPort}`;
  progress(
    `Temporal dev server ready on ${address} in ${Date.now() - started} ms${uiUrl ? `, UI ${uiUrl}` : ''}`,
  );
  return { address, uiUrl, namespace, pid: child.pid!, stop };
}

/** True once the frontend accepts calls and lists every expected search attribute in the namespace. */
async function answers(
  ip: string,
  port: number,
  namespace: string,
  searchAttributes: readonly SearchAttributeDefinition[],
): Promise<boolean> {
  // A plain TCP probe first: gRPC's reconnect backoff would otherwise stretch a refused dial to seconds.
  if (!(await acceptsTcp(ip, port))) return false;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: `${ip}:${port}`, connectTimeout: 2000 });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    return searchAttributes.every(({ name }) => name in customAttributes);
  } catch {
    return false;
  } finally {
    await connection?.close();
  }
}

function acceptsTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Binds port 0 to let the kernel choose a free port, then releases it for the server. */
export function pickFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function assertPortFree(host: string, port: number, what: string): Promise<void> {
  const free = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
  if (!free) {
    throw new TemporalServerError(
      `cannot start Temporal: ${what} port ${host}:${port} is already in use`,
      '',
    );
  }
}

let pdeathsigSupported: boolean | undefined;

/** Prefixes `setpriv --pdeathsig TERM` on Linux when available (it execs, so the pid stays the server's). */
function withParentDeathSignal(command: string, args: string[]): [string, string[]] {
  if (process.platform !== 'linux') return [command, args];
  pdeathsigSupported ??= /--pdeathsig/.test(
    spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout ?? '',
  );
  return pdeathsigSupported ? ['setpriv', ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, args];
}

/** Keeps the last 16 KB of the server's output in memory, and copies it to a file if asked. */
class OutputLog {
  readonly #file: WriteStream | undefined;
  #recent = '';

  constructor(path: string | undefined) {
    // Opened synchronously so that a bad path fails the start instead of a later write.
    this.#file = path === undefined ? undefined : createWriteStream(path, { fd: openSync(path, 'a') });
  }

  readonly append = (chunk: Buffer): void => {
    this.#file?.write(chunk);
    this.#recent = (this.#recent + chunk.toString('utf8')).slice(-16_384);
  };

  tail(lines = 40): string {
    return this.#recent.trimEnd().split('\n').slice(-lines).join('\n');
  }

  close(): Promise<void> {
    const file = this.#file;
    return file ? new Promise((resolve) => file.end(resolve)) : Promise.resolve();
  }
}
