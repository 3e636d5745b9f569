/**
 * kustomize, built from its Go module into `~/.cache/kiln/kustomize-<version>/` once (under a
 * minute), to render infra/k8s exactly as `kubectl apply -k` would without needing kubectl.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { cachedEntry } from './cache.ts';
import { runCommand } from './server-process.ts';

/** The newest kustomize release that builds with Kiln's Go toolchain. */
export const KUSTOMIZE_VERSION = 'v5.8.1';

export interface ObtainKustomizeOptions {
  /** Root of the build cache. @default ~/.cache/kiln */
  cacheDir?: string;
  /** Called with one line per step. */
  onProgress?: (message: string) => void;
}

/** Path of the kustomize binary, building it into the cache when it is not there yet. */
export async function obtainKustomize(options: ObtainKustomizeOptions = {}): Promise<string> {
  const progress = options.onProgress ?? (() => {});
  const { dir } = await cachedEntry({
    name: 'kustomize',
    version: KUSTOMIZE_VERSION,
    marker: 'kustomize',
    cacheDir: options.cacheDir,
    build: async (work) => {
      progress(`building kustomize ${KUSTOMIZE_VERSION} with go install (first time only)…`);
      await runCommand(
        'go',
        ['install', '-trimpath', '-ldflags=-s -w', `sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}`],
        { what: 'go install kustomize', env: { ...process.env, GOBIN: work, CGO_ENABLED: '0' } },
      );
    },
  });
  return join(dir, 'kustomize');
}

/** A rendered Kubernetes object (only the fields every object has are typed). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** The objects `kustomize build <dir>` renders, in its order. */
export async function renderKustomization(
  dir: string,
  options: ObtainKustomizeOptions = {},
): Promise<KubeObject[]> {
  const kustomize = await obtainKustomize(options);
  let output: string;
  try {
    ({ stdout: output } = await promisify(execFile)(kustomize, ['build', dir], {
      maxBuffer: 64 * 1024 * 1024,
    }));
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`kustomize build ${dir} failed: ${stderr.trim() || (err as Error).message}`, {
      cause: err,
    });
  }
  return parseAllDocuments(output).flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`kustomize build ${dir}: ${document.errors[0]!.message}`);
    const object = document.toJS() as KubeObject | null;
    return object === null ? [] : [object];
  });
}
