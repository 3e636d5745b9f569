/**
 * Builds the binaries of Kiln's test Kubernetes control plane from Go modules into one cache entry,
 * `~/.cache/kiln/kube-<version>/`: kube-apiserver and kube-scheduler, etcd, and KWOK (which plays
 * the kubelet of fake nodes). The first build compiles Kubernetes from source and takes many
 * minutes on a small machine; later ones reuse the entry.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedEntry } from './cache.ts';
import { runCommand } from './server-process.ts';

/** The Kubernetes release Kiln is tested with. */
export const KUBERNETES_VERSION = 'v1.35.4';
/** The etcd release that Kubernetes release is validated against. */
export const ETCD_VERSION = 'v3.6.5';
/** The KWOK release that simulates nodes and pod lifecycles. */
export const KWOK_VERSION = 'v0.8.0';

/** Paths of the built binaries. */
export interface KubeBinaries {
  kubeApiserver: string;
  kubeScheduler: string;
  etcd: string;
  kwok: string;
}

export interface ObtainKubeOptions {
  /** Root of the build cache. @default ~/.cache/kiln */
  cacheDir?: string;
  /** Called with one line per step. */
  onProgress?: (message: string) => void;
}

/** Paths of the control-plane binaries, building them into the cache when they are not there yet. */
export async function obtainKube(options: ObtainKubeOptions = {}): Promise<KubeBinaries> {
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();
  const { dir, built } = await cachedEntry({
    name: 'kube',
    version: KUBERNETES_VERSION,
    marker: '.complete',
    cacheDir: options.cacheDir,
    build: async (out) => {
      progress(
        `building the Kubernetes ${KUBERNETES_VERSION} control plane from source (first time only, ` +
          '10–30 minutes on a small machine)…',
      );
      const scratch = await mkdtemp(join(tmpdir(), 'kiln-kube-build-'));
      try {
        await buildEtcd(join(scratch, 'etcd'), out, progress);
        await buildKwok(out, progress);
        await buildKubernetes(join(scratch, 'kubernetes'), out, progress);
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
      await writeFile(join(out, '.complete'), `${KUBERNETES_VERSION} ${ETCD_VERSION} ${KWOK_VERSION}\n`);
    },
  });
  if (built) progress(`Kubernetes control plane built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return {
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubeScheduler: join(dir, 'kube-scheduler'),
    etcd: join(dir, 'etcd'),
    kwok: join(dir, 'kwok'),
  };
}

const goEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod' });

/** Runs `go` in `cwd`, naming the step in errors. */
function go(args: string[], cwd: string, env: NodeJS.ProcessEnv = goEnv()): Promise<string> {
  return runCommand('go', args, { what: `go ${args.slice(0, 2).join(' ')}`, cwd, env });
}

/**
 * etcd's own go.mod carries `replace` directives (so `go install module@version` refuses it);
 * a throwaway module that requires it builds the same code with those directives ignored.
 */
async function buildEtcd(src: string, out: string, progress: (message: string) => void): Promise<void> {
  progress(`building etcd ${ETCD_VERSION}…`);
  await mkdir(src, { recursive: true });
  await writeFile(join(src, 'go.mod'), 'module kiln.local/etcd-build\n\ngo 1.24\n');
  await go(['get', `go.etcd.io/etcd/server/v3@${ETCD_VERSION}`], src);
  await go(
    ['build', '-trimpath', '-ldflags=-s -w', '-o', join(out, 'etcd'), 'go.etcd.io/etcd/server/v3'],
    src,
  );
}

async function buildKwok(out: string, progress: (message: string) => void): Promise<void> {
  progress(`building KWOK ${KWOK_VERSION}…`);
  await go(['install', '-trimpath', '-ldflags=-s -w', `sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}`], out, {
    ...process.env,
    CGO_ENABLED: '0',
    GOBIN: out,
  });
}

/**
 * k8s.io/kubernetes requires its staging modules (k8s.io/api, k8s.io/apiserver, …) at v0.0.0 and
 * points them at `./staging/...` with `replace`, which only works inside its own repository. A
 * throwaway module replaces each of them with its published release instead (v1.x.y ↔ v0.x.y);
 * the list comes from the downloaded kubernetes go.mod, so it follows the release.
 */
async function buildKubernetes(src: string, out: string, progress: (message: string) => void): Promise<void> {
  await mkdir(src, { recursive: true });
  const download = JSON.parse(
    await go(['mod', 'download', '-json', `k8s.io/kubernetes@${KUBERNETES_VERSION}`], src, {
      ...process.env,
      GOFLAGS: '',
    }),
  ) as { GoMod?: string; Error?: string };
  if (!download.GoMod) {
    throw new Error(
      `go mod download k8s.io/kubernetes@${KUBERNETES_VERSION}: ${download.Error ?? 'no go.mod'}`,
    );
  }
  const upstream = await readFile(download.GoMod, 'utf8');
  const stagingVersion = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map((m) => m[1]!);
  if (staging.length === 0) throw new Error(`${download.GoMod}: no staging replace directives found`);
  const goLine = /^go\s+(\S+)/m.exec(upstream)?.[1] ?? '1.25.0';
  await writeFile(
    join(src, 'go.mod'),
    [
      'module kiln.local/kube-build',
      '',
      `go ${goLine}`,
      '',
      'replace (',
      ...staging.map((module) => `\t${module} => ${module} ${stagingVersion}`),
      ')',
      '',
    ].join('\n'),
  );
  const commands = ['kube-apiserver', 'kube-scheduler'].map((name) => `k8s.io/kubernetes/cmd/${name}`);
  progress(`resolving k8s.io/kubernetes ${KUBERNETES_VERSION} (${staging.length} staging modules)…`);
  await go(['get', ...commands.map((command) => `${command}@${KUBERNETES_VERSION}`)], src);
  progress('compiling kube-apiserver and kube-scheduler (the long part)…');
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const version = 'k8s.io/component-base/version';
  const ldflags = [
    '-s -w',
    `-X ${version}.gitVersion=${KUBERNETES_VERSION}`,
    `-X ${version}.gitMajor=${major}`,
    `-X ${version}.gitMinor=${minor}`,
    `-X ${version}.gitTreeState=clean`,
  ].join(' ');
  await go(['build', '-trimpath', `-ldflags=${ldflags}`, '-o', `${out}/`, ...commands], src);
}
