import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLogStore } from '../../adapters/logs/file-logs.ts';
import { LocalRunnerBackend } from '../../adapters/runner/local/local-runner-backend.ts';
import type { IsolationMode } from '../../adapters/runner/local/sandbox.ts';
import type { RunnerState } from '../../adapters/runner/local/state.ts';
import type { RunnerSpec } from '../../adapters/runner/port.ts';
import { KilnError } from '../../shared/errors.ts';
import { createOriginRepo, groupMembers, tempDir, until, type OriginRepo } from '../adapters/fixtures.ts';
import { missingSandboxTool } from './sandbox-tools.ts';

// The home directory of the user running Kiln, as the backend sees it: a temporary one, so that the
// tests put files in a home (and `none` jobs write there) without touching a real one.
const home = mkdtempSync(join(tmpdir(), 'kiln-isolation-home-'));
const savedHome = process.env.HOME;
process.env.HOME = home;
writeFileSync(join(home, 'credentials'), 'a credential kept in the home directory\n', { mode: 0o600 });
afterAll(() => {
  process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

const modes: { mode: IsolationMode; missing: string | undefined }[] = [
  { mode: 'none', missing: undefined },
  { mode: 'bubblewrap', missing: await missingSandboxTool('bubblewrap') },
  { mode: 'gvisor', missing: await missingSandboxTool('gvisor') },
];
for (const { mode, missing } of modes) {
  if (missing !== undefined) console.warn(`isolation tests of ${mode} skipped: ${missing}`);
}

// The same jobs through the real local backend in each mode; `none` is the control, showing that
// each check would notice the access a sandbox is there to deny.
describe.each(modes)('local runner isolation: $mode', ({ mode, missing }) => {
  const sandboxed = mode !== 'none';
  const tmp = tempDir(`isolation-${mode}`);
  const dirs = {
    runnersDir: join(tmp.path, 'runners'),
    mirrorsDir: join(tmp.path, 'mirrors'),
    logsDir: join(tmp.path, 'logs'),
  };
  // A secret-store key kept outside the runner's own directories, hidden as Kiln's workers hide it.
  const keyFile = join(tmp.path, 'secrets.key');
  const isolation = { mode, hiddenPaths: [keyFile] };
  const backend = new LocalRunnerBackend({ ...dirs, isolation });
  const logs = new FileLogStore({ logsDir: dirs.logsDir });
  const started: string[] = [];
  /** Host files a `none` job may have written outside its workspace, removed after the tests. */
  const strays: string[] = [];
  let origin: OriginRepo;
  let sha: string;
  let counter = 0;

  beforeAll(() => {
    writeFileSync(keyFile, 'the key of the secret store\n', { mode: 0o600 });
    origin = createOriginRepo(tmp.path);
    sha = origin.commit({ 'hello.txt': 'hello from the repo\n' }, 'initial');
  });
  afterAll(async () => {
    await Promise.all(started.map((id) => backend.destroy(id)));
    await backend.close();
    for (const path of strays) rmSync(path, { force: true });
    tmp.cleanup();
  });

  const makeSpec = (steps: [string, string][], overrides: Partial<RunnerSpec> = {}): RunnerSpec => {
    counter += 1;
    const jobKey = `job-${counter}`;
    const runnerId = `build-${mode}-${jobKey}-1`;
    started.push(runnerId);
    return {
      runnerId,
      buildId: `build-${mode}`,
      jobKey,
      attempt: 1,
      checkout: { cloneUrl: origin.url, sha, ref: 'refs/heads/main', branch: 'main' },
      steps: steps.map(([name, run]) => ({ name, run, env: {} })),
      env: {},
      timeoutMs: 60_000,
      ...overrides,
    };
  };
  const runnerDir = (spec: RunnerSpec) => join(dirs.runnersDir, spec.runnerId);
  const workspace = (spec: RunnerSpec) => join(runnerDir(spec), 'workspace');
  const stdout = async (spec: RunnerSpec) => {
    const out: string[] = [];
    for await (const line of logs.read(spec.buildId, spec.jobKey, spec.attempt)) {
      if (line.stream === 'stdout') out.push(line.text);
    }
    return out;
  };
  const run = async (spec: RunnerSpec) => {
    await backend.start(spec);
    return backend.wait(spec.runnerId, {});
  };

  it.skipIf(missing !== undefined)(
    'keeps what a step writes in the workspace for the next step',
    async () => {
      const spec = makeSpec([
        ['write', 'echo "made by step one" > made.txt; mkdir -p out && echo nested > out/n.txt'],
        ['read', 'cat made.txt out/n.txt hello.txt; git log -1 --format=%H'],
      ]);
      expect(await run(spec)).toEqual({ status: 'succeeded', exitCode: 0 });
      expect(await stdout(spec)).toEqual(['made by step one', 'nested', 'hello from the repo', sha]);
      expect(readFileSync(join(workspace(spec), 'made.txt'), 'utf8')).toBe('made by step one\n');
    },
  );

  it.skipIf(missing !== undefined)(
    "cannot read a sibling job's workspace nor Kiln's runner state",
    async () => {
      const sibling = makeSpec([['keep', 'echo "sibling data" > private.txt']]);
      expect(await run(sibling)).toMatchObject({ status: 'succeeded' });
      const spec = makeSpec([]);
      const targets = [
        join(workspace(sibling), 'private.txt'),
        join(runnerDir(sibling), 'spec.json'),
        join(runnerDir(spec), 'spec.json'), // its own spec holds the secret values of the job
        keyFile,
      ];
      // Read means: some of the content came out (a hidden file may show as an empty one).
      spec.steps = [
        {
          name: 'peek',
          run: targets
            .map((path) => `if cat '${path}' 2>/dev/null | grep -q .; then echo "read ${path}"; fi`)
            .join('\n'),
          env: {},
        },
      ];
      expect(await run(spec)).toMatchObject({ status: 'succeeded' });
      expect(await stdout(spec)).toEqual(sandboxed ? [] : targets.map((path) => `read ${path}`));
    },
  );

  it.skipIf(missing !== undefined)(
    "cannot read the host's home directory nor its password hashes, and has a home of its own",
    async () => {
      const targets = [join(homedir(), 'credentials'), '/etc/shadow'].filter((path) => existsSync(path));
      const peek = targets.map(
        (path) => `if cat '${path}' 2>/dev/null | grep -q .; then echo "read ${path}"; fi`,
      );
      // HOME is writable, and not the host's.
      peek.push('echo cached > "$HOME/.cache-file" && cat "$HOME/.cache-file"');
      peek.push(`if [ "$HOME" = '${homedir()}' ]; then echo 'host home'; fi`);
      const spec = makeSpec([['peek', peek.join('\n')]]);
      expect(await run(spec)).toMatchObject({ status: 'succeeded' });
      // As root `none` reads /etc/shadow; as another user not even that control can.
      const readable = targets.filter((path) => path !== '/etc/shadow' || process.getuid?.() === 0);
      expect(await stdout(spec)).toEqual([
        ...(sandboxed ? [] : readable.map((path) => `read ${path}`)),
        'cached',
        ...(sandboxed ? [] : ['host home']),
      ]);
      if (!sandboxed) rmSync(join(homedir(), '.cache-file'), { force: true });
    },
  );

  it.skipIf(missing !== undefined)("cannot connect to a server on the host's loopback", async () => {
    let connections = 0;
    const server: Server = createServer((socket) => {
      connections += 1;
      socket.on('error', () => undefined); // the step's shell hangs up without reading
      socket.end('hello from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    try {
      // bash's /dev/tcp: a plain connect(2), with nothing to install.
      const spec = makeSpec([
        ['connect', `if bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null; then echo connected; fi`],
      ]);
      expect(await run(spec)).toMatchObject({ status: 'succeeded' });
      expect(await stdout(spec)).toEqual(sandboxed ? [] : ['connected']);
      expect(connections).toBe(sandboxed ? 0 : 1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.skipIf(missing !== undefined)('cannot write outside its workspace', async () => {
    const name = `kiln-isolation-${mode}-${process.pid}`;
    const targets = [
      join('/etc', name),
      join(homedir(), name),
      join(dirs.runnersDir, name),
      join(dirs.mirrorsDir, name),
    ];
    strays.push(...targets);
    const script = targets.map(
      (path) => `if (echo x > '${path}') 2>/dev/null; then echo "wrote ${path}"; fi`,
    );
    // The private /tmp takes writes, which never reach the host's.
    script.push(`echo private > /tmp/${name} && cat /tmp/${name}`);
    strays.push(join('/tmp', name));
    const spec = makeSpec([['scribble', script.join('\n')]]);
    expect(await run(spec)).toMatchObject({ status: 'succeeded' });
    const expected = sandboxed ? [] : targets.map((path) => `wrote ${path}`);
    expect(await stdout(spec)).toEqual([...expected, 'private']);
    for (const path of targets) expect(existsSync(path)).toBe(!sandboxed);
    expect(existsSync(join('/tmp', name))).toBe(!sandboxed);
  });

  it.skipIf(missing !== undefined)('hands secrets to the step environment, masked in the log', async () => {
    const secret = `s3cr3t-${mode}-value-${process.pid}`;
    const spec = makeSpec([['deploy', `test "$DEPLOY_TOKEN" = '${secret}'; echo "token=$DEPLOY_TOKEN"`]], {
      secretEnv: { DEPLOY_TOKEN: secret },
    });
    expect(await run(spec)).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(await stdout(spec)).toEqual(['token=***']);
    // The gVisor bundle, which carried the step's environment, went with the step.
    expect(existsSync(join(runnerDir(spec), 'gvisor', 'step-0'))).toBe(false);
  });

  it.skipIf(missing !== undefined)('reports a non-zero exit as a failed step', async () => {
    const spec = makeSpec([
      ['ok', 'true'],
      ['fails', 'echo before; exit 7'],
      ['never', 'echo never'],
    ]);
    expect(await run(spec)).toEqual({ status: 'failed', exitCode: 7, failedStep: 'fails' });
    expect(await stdout(spec)).toEqual(['before']);
  });

  it.skipIf(missing !== undefined)('times the step out inside its sandbox', async () => {
    const spec = makeSpec([['hang', 'echo started; sleep 1000']], { timeoutMs: 1_500 });
    expect(await run(spec)).toEqual({ status: 'timed_out', failedStep: 'hang' });
    expect(await stdout(spec)).toEqual(['started']);
  });

  it.skipIf(missing !== undefined)('is awaited by a restarted worker while the step runs', async () => {
    const spec = makeSpec([['slow', 'sleep 1; echo done > done.txt; echo done']]);
    await backend.start(spec);
    // A worker that starts after the crash of the one that launched the runner.
    const restarted = new LocalRunnerBackend({ ...dirs, isolation, warmSupervisors: 0 });
    expect(await restarted.wait(spec.runnerId, {})).toEqual({ status: 'succeeded', exitCode: 0 });
    expect(await stdout(spec)).toEqual(['done']);
  });

  it.skipIf(missing !== undefined)('cancel kills the sandboxed step and everything around it', async () => {
    // A background process with a command line of its own, to look for on the host afterwards.
    const marker = `1000.${process.pid}${counter}`;
    const spec = makeSpec([['loop', `sleep ${marker} & while :; do date +%s%N > beat; sleep 0.05; done`]]);
    const beat = join(workspace(spec), 'beat');
    await backend.start(spec);
    const outcome = backend.wait(spec.runnerId, {}).then(
      () => 'finished',
      (err: unknown) => (err instanceof KilnError ? err.code : String(err)),
    );
    await until(() => existsSync(beat), 20_000);
    // The check below can see it (except under gVisor, whose processes live in its own kernel).
    if (mode !== 'gvisor') await until(() => processesMentioning(`sleep\0${marker}`).length === 1);
    await backend.cancel(spec.runnerId);
    expect(await outcome).toBe('CANCELLED');

    const state = JSON.parse(readFileSync(join(runnerDir(spec), 'state.json'), 'utf8')) as RunnerState;
    for (const pgid of state.pgids ?? []) expect(groupMembers(pgid)).toEqual([]);
    // Nothing on the host still runs for this runner (a sandbox's processes name its directory).
    expect(processesMentioning(runnerDir(spec))).toEqual([]);
    expect(processesMentioning(`sleep\0${marker}`)).toEqual([]);
    if (mode === 'gvisor') {
      // The killed container is no longer recorded in the runner's runsc state.
      expect(
        readdirSync(join(runnerDir(spec), 'gvisor', 'state')).filter((f) => f.endsWith('.state')),
      ).toEqual([]);
    }
    const last = readFileSync(beat, 'utf8');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(readFileSync(beat, 'utf8')).toBe(last);
  });
});

/** Live (non-zombie) processes whose command line holds `text`. */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
