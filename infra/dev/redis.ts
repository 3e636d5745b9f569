/**
 * A private Redis server for tests, benchmarks and local use: Debian's `redis-server` on 127.0.0.1
 * and a free port, without persistence, its working directory a temporary one. `restart()` stops
 * it and starts a new one on the same port with empty state (what a crash without persistence
 * does to clients).
 */
import { freePort } from './server-process.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface StartRedisOptions {
  /**
   * Port on 127.0.0.1.
   * @default a free port
   */
  port?: number;
  /** Called with one line per step (for test setup logs). */
  onProgress?: (message: string) => void;
}

export interface RunningRedis {
  /** `redis://127.0.0.1:<port>` (no password, local only). */
  url: string;
  port: number;
  /** Stops the server and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
  /** Stops the server and starts an empty one on the same port; resolves once it answers. */
  restart(): Promise<void>;
}

/** `redis-server` is not installed. */
export class RedisNotInstalledError extends Error {
  constructor() {
    super('redis-server not found on PATH or in /usr/bin: install it with `apt-get install redis-server`');
    this.name = 'RedisNotInstalledError';
  }
}

/** Path of the `redis-server` binary: PATH first, then Debian's location. */
export function findRedisServer(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/bin', '/usr/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new RedisNotInstalledError();
}

/** Starts a server and waits until it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RunningRedis> {
  const progress = options.onProgress ?? (() => {});
  const binary = findRedisServer();
  const dir = await mkdtemp(join(tmpdir(), 'kiln-redis-'));
  try {
    const port = options.port ?? (await freePort());
    let server = await launch(binary, dir, port);
    progress(`Redis ready on 127.0.0.1:${port}`);
    let stopped: Promise<void> | undefined;
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      stop: () =>
        (stopped ??= (async () => {
          await server.stop();
          await rm(dir, { recursive: true, force: true });
        })()),
      async restart() {
        if (stopped) throw new Error('Redis was stopped');
        await server.stop();
        server = await launch(binary, dir, port);
        progress(`Redis restarted on 127.0.0.1:${port}`);
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

interface Server {
  stop(): Promise<void>;
}

async function launch(binary: string, dir: string, port: number): Promise<Server> {
  const args = [
    '--bind',
    '127.0.0.1',
    '--port',
    String(port),
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    '--logfile',
    '',
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If this process ends without stop(), take the server down with it.
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.removeListener('exit', onExit);
      throw new Error(
        `redis-server exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`,
      );
    }
    if (await answersPing(port)) break;
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      process.removeListener('exit', onExit);
      throw new Error(`redis-server did not answer on 127.0.0.1:${port} within 15 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    async stop() {
      process.removeListener('exit', onExit);
      await stopChild(child, exited);
    },
  };
}

/** SIGTERM makes Redis shut down at once (nothing to save); SIGKILL if it hangs. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Sends an inline PING and waits for `+PONG`. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}
