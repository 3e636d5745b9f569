/**
 * A private PostgreSQL cluster for tests, benchmarks and local use: `initdb` into a directory, then
 * one `postgres` process on 127.0.0.1 and a free port, tuned for speed over durability
 * (`fsync=off`). Uses the server binaries of the Debian `postgresql` package.
 */
import { freePort } from './server-process.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

export interface StartPostgresOptions {
  /**
   * Cluster directory. An existing cluster there is reused and kept at `stop()`; without it a
   * temporary directory is made and removed at `stop()`.
   */
  dataDir?: string;
  /**
   * Port on 127.0.0.1.
   * @default a free port
   */
  port?: number;
  /** Called with one line per step (for test setup logs). */
  onProgress?: (message: string) => void;
}

export interface RunningPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust authentication, local only). */
  url: string;
  port: number;
  dataDir: string;
  /** Fast shutdown, then removes the temporary directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** The server binaries could not be found. */
export class PostgresNotInstalledError extends Error {
  constructor() {
    super(
      'PostgreSQL server binaries (initdb, postgres) not found on PATH or under /usr/lib/postgresql/*/bin: ' +
        'install them with `apt-get install postgresql`',
    );
    this.name = 'PostgresNotInstalledError';
  }
}

/** Directory holding both `initdb` and `postgres`: PATH first, then the newest Debian version. */
export function findPostgresBinDir(): string {
  const candidates = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(debianRoot, v, 'bin')));
  }
  const found = candidates.find(
    (dir) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'postgres')),
  );
  if (found === undefined) throw new PostgresNotInstalledError();
  return found;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `initdb` and `postgres` refuse to run as root: as root, run them as the `postgres` system user
 * that the Debian package creates, owning the cluster directory.
 */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      'running as root, PostgreSQL needs the `postgres` system user: `apt-get install postgresql`',
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export { freePort } from './server-process.ts';

/** Starts a private cluster and waits until it accepts connections. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<RunningPostgres> {
  const progress = options.onProgress ?? (() => {});
  const bin = findPostgresBinDir();
  const user = serverUser();
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'kiln-pg-')));
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (user) await chown(dataDir, user.uid, user.gid);
    if (!existsSync(join(dataDir, 'PG_VERSION'))) {
      const started = Date.now();
      const init = await run(
        join(bin, 'initdb'),
        ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'],
        user,
      );
      if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.output.trim()}`);
      progress(`initdb done in ${Date.now() - started} ms`);
    }
    const port = options.port ?? (await freePort());
    const server = await launch(bin, dataDir, port, user);
    progress(`PostgreSQL ready on 127.0.0.1:${port}`);
    let stopped: Promise<void> | undefined;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      dataDir,
      stop: () =>
        (stopped ??= (async () => {
          await server.stop();
          if (temporary) await rm(dataDir, { recursive: true, force: true });
        })()),
    };
  } catch (err) {
    if (temporary) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

/** Creates an empty database on the cluster of `url`; returns the URL of the new database. */
export async function createDatabase(url: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`bad database name "${name}"`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const dbUrl = new URL(url);
  dbUrl.pathname = `/${name}`;
  return dbUrl.toString();
}

interface Server {
  stop(): Promise<void>;
}

async function launch(
  bin: string,
  dataDir: string,
  port: number,
  user: { uid: number; gid: number } | undefined,
): Promise<Server> {
  const settings = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: '',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    shared_buffers: '256MB',
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'pipe', 'pipe'], ...user });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // If this process ends without stop(), take the server down with it.
  const onExit = (): void => void child.kill('SIGQUIT');
  process.once('exit', onExit);

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.removeListener('exit', onExit);
      throw new Error(
        `postgres exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${output}`,
      );
    }
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      process.removeListener('exit', onExit);
      throw new Error(`postgres did not accept connections on 127.0.0.1:${port} within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      process.removeListener('exit', onExit);
      await stopChild(child, exited);
    },
  };
}

/** SIGINT is PostgreSQL's fast shutdown: disconnect clients, checkpoint, exit. */
async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGQUIT'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function accepts(port: number): Promise<boolean> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

function run(
  command: string,
  args: string[],
  user: { uid: number; gid: number } | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmpdir(), ...user });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}
