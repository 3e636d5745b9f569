/**
 * What the dev servers (Kafka, the S3 server) share: free ports, running a build command, and a
 * child server process that dies with this process, keeps the tail of its output for error
 * messages, and stops with a grace period.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Runs a command to completion; rejects with the tail of its output when it fails. */
export function runCommand(
  command: string,
  args: string[],
  options: SpawnOptions & { what: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-16_384);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('error', (err) => reject(new Error(`${options.what}: cannot run ${command}: ${err.message}`)));
    child.once('exit', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${options.what} failed (${code ?? signal}):\n${tail(output, 30)}`));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  /** The last 16 KB of stdout and stderr. */
  output(): string;
  /** Whether the process has exited. */
  exited(): boolean;
  /** Sends `signal`, then SIGKILL after `graceMs`; resolves when the process is gone. Idempotent. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** Starts a long-running server process that is killed if this process exits first. */
export function startServerProcess(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ServerProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-16_384);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`\n${err.message}\n`)));
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const onExit = (): void => void child.kill('SIGKILL');
  process.once('exit', onExit);
  // 'exit' does not run when this process is killed by a signal (a test runner ending its
  // workers): a watchdog shell kills the server when our end of its stdin closes, however we die.
  const watchdog =
    child.pid === undefined
      ? undefined
      : spawn('sh', ['-c', `while read -r _; do :; done; kill -KILL ${child.pid} 2>/dev/null`], {
          stdio: ['pipe', 'ignore', 'ignore'],
        });
  watchdog?.unref();
  (watchdog?.stdin as (NodeJS.WritableStream & { unref?: () => void }) | undefined)?.unref?.();
  child.once('exit', () => watchdog?.kill('SIGKILL'));
  let stopping: Promise<void> | undefined;
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    output: () => output,
    exited,
    stop: (signal = 'SIGTERM', graceMs = 10_000) =>
      (stopping ??= (async () => {
        process.removeListener('exit', onExit);
        if (exited() || child.pid === undefined) return;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await gone;
        clearTimeout(timer);
      })()),
  };
}

/**
 * Polls `ready` every 100 ms until it returns true; fails early when the server exits, or after
 * `timeoutMs`, with the server's output.
 */
export async function waitUntilReady(
  server: ServerProcess,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server.exited()) {
      throw new Error(`${what} exited before it was ready:\n${tail(server.output(), 30)}`);
    }
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) {
      await server.stop('SIGKILL');
      throw new Error(`${what} was not ready within ${timeoutMs / 1000} s:\n${tail(server.output(), 30)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function tail(text: string, lines = 10): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}
