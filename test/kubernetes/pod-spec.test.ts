import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isDnsLabel,
  isLabelValue,
  labelValue,
  MAX_NAME_LENGTH,
  podName,
  secretName,
} from '../../adapters/runner/kubernetes/names.ts';
import {
  buildRunnerPod,
  buildRunnerSecret,
  DEFAULT_POD_SETTINGS,
} from '../../adapters/runner/kubernetes/pod-spec.ts';
import type { RunnerSpec } from '../../adapters/runner/port.ts';
import { InvalidInputError } from '../../shared/errors.ts';

const NOW = new Date('2026-03-01T12:00:00.000Z');

const basic: RunnerSpec = {
  runnerId: 'b-42-test-1',
  buildId: 'b-42',
  jobKey: 'test',
  attempt: 1,
  checkout: { cloneUrl: 'https://git.example.com/acme/app.git', sha: 'a'.repeat(40), ref: 'refs/heads/main' },
  steps: [
    { name: 'install', run: 'npm ci', env: {} },
    { name: 'test', run: 'npm test', env: { NODE_ENV: 'test' } },
  ],
  env: { FOO: 'bar' },
  timeoutMs: 600_000,
  projectId: 'acme-app',
};

const withSecrets: RunnerSpec = {
  ...basic,
  runnerId: 'b-43-deploy-2',
  buildId: 'b-43',
  jobKey: 'deploy',
  attempt: 2,
  checkout: { ...basic.checkout, ref: 'refs/tags/v1.2.0' },
  steps: [{ name: 'deploy', run: './deploy.sh', env: {} }],
  env: { API_TOKEN: 'not-the-secret', REGION: 'eu' },
  image: 'ghcr.io/acme/deployer:3',
  resourceClass: 'large',
  secrets: ['API_TOKEN', 'SIGNING_KEY'],
  secretEnv: { API_TOKEN: 'tok-0123456789', SIGNING_KEY: '-----BEGIN KEY-----' },
};

const longIds: RunnerSpec = {
  ...basic,
  runnerId: `GH-${'Delivery_'.repeat(10)}-test-node-20-os-linux-1`,
  buildId: `GH-${'Delivery_'.repeat(10)}`,
  jobKey: 'test-node-20-os-linux',
  projectId: undefined,
  steps: [{ name: 'echo', run: 'echo hi', env: {} }],
};

describe('runner pod (golden files)', () => {
  it.each([
    ['basic', basic],
    ['with-secrets', withSecrets],
    ['long-ids', longIds],
  ])('%s', async (name, spec) => {
    const pod = buildRunnerPod(spec, DEFAULT_POD_SETTINGS, NOW);
    const secret = buildRunnerSecret(spec, DEFAULT_POD_SETTINGS);
    const actual = { pod, secret: { ...secret, stringData: Object.keys(secret.stringData ?? {}) } };
    // Compared as data, so the committed files may be formatted by Prettier. A missing file is
    // written (then reviewed and committed); delete one to regenerate it after an intended change.
    const golden = join(import.meta.dirname, '..', 'fixtures', 'pods', `${name}.json`);
    if (!existsSync(golden)) writeFileSync(golden, `${JSON.stringify(actual, null, 2)}\n`);
    expect(JSON.parse(JSON.stringify(actual))).toEqual(JSON.parse(readFileSync(golden, 'utf8')));
  });

  it('never puts a secret value in the pod', () => {
    const text = JSON.stringify(buildRunnerPod(withSecrets, DEFAULT_POD_SETTINGS, NOW));
    for (const value of Object.values(withSecrets.secretEnv ?? {})) expect(text).not.toContain(value);
    const pod = buildRunnerPod(withSecrets, DEFAULT_POD_SETTINGS, NOW);
    const env = pod.spec?.containers[0]?.env ?? [];
    // A declared secret wins over an env entry of the same name, by reference.
    expect(env.filter((e) => e.name === 'API_TOKEN')).toEqual([
      {
        name: 'API_TOKEN',
        valueFrom: { secretKeyRef: { name: secretName(withSecrets.runnerId), key: 'API_TOKEN' } },
      },
    ]);
  });

  it('is hardened and bounded', () => {
    const pod = buildRunnerPod(basic, DEFAULT_POD_SETTINGS, NOW);
    expect(pod.spec).toMatchObject({
      runtimeClassName: 'gvisor',
      restartPolicy: 'Never',
      activeDeadlineSeconds: 600,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    });
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
    expect(containers.map((c) => c.name)).toEqual(['checkout', 'step-1', 'step-2']);
    for (const c of containers) {
      expect(c.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 1000,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(c.resources?.requests).toEqual(c.resources?.limits);
    }
  });

  it('names what is wrong with a spec it cannot build', () => {
    expect(() => buildRunnerPod({ ...basic, resourceClass: 'huge' }, DEFAULT_POD_SETTINGS, NOW)).toThrow(
      /unknown resource class "huge"/,
    );
    expect(() => buildRunnerPod({ ...basic, steps: [] }, DEFAULT_POD_SETTINGS, NOW)).toThrow(
      InvalidInputError,
    );
  });

  it('adds the extra labels of the settings and leaves out an empty runtime class', () => {
    const pod = buildRunnerPod(
      basic,
      { ...DEFAULT_POD_SETTINGS, runtimeClassName: '', extraLabels: { 'kiln.dev/fake-hold': 'true' } },
      NOW,
    );
    expect(pod.metadata?.labels?.['kiln.dev/fake-hold']).toBe('true');
    expect(pod.spec).not.toHaveProperty('runtimeClassName');
  });
});

/** A small deterministic generator, so a failing case can be replayed. */
function randomIds(seed: number, count: number): string[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const alphabet = 'abcXYZ019-._/ ÄüΩ🙂';
  const chars = [...alphabet];
  return Array.from({ length: count }, () => {
    const length = 1 + Math.floor(next() * 140);
    return Array.from({ length }, () => chars[Math.floor(next() * chars.length)]).join('');
  });
}

describe('runner names (properties)', () => {
  const ids = [...randomIds(7, 3000), 'a', 'A', '-', '.', 'x'.repeat(200), 'b-1-test-1', 'B-1-TEST-1'];

  it('are DNS-1123 labels of at most 63 characters', () => {
    for (const id of ids) {
      for (const name of [podName(id), secretName(id)]) {
        expect(name.length, id).toBeLessThanOrEqual(MAX_NAME_LENGTH);
        expect(isDnsLabel(name), `${name} from ${JSON.stringify(id)}`).toBe(true);
      }
    }
  });

  it('are deterministic', () => {
    for (const id of ids) expect(podName(id)).toBe(podName(String(id)));
  });

  it('are unique per runner id', () => {
    const unique = new Set(ids);
    expect(new Set([...unique].map(podName)).size).toBe(unique.size);
    expect(new Set([...unique].map(secretName)).size).toBe(unique.size);
  });

  it('keep a plain runner id readable', () => {
    expect(podName('b-42-test-1')).toBe('kiln-b-42-test-1');
  });

  it('label values are valid, unchanged when already valid, and distinct', () => {
    const unique = [...new Set(ids)];
    const values = unique.map(labelValue);
    for (const [i, value] of values.entries()) {
      expect(isLabelValue(value), `${value} from ${JSON.stringify(unique[i])}`).toBe(true);
      if (isLabelValue(unique[i] ?? '')) expect(value).toBe(unique[i]);
    }
    expect(new Set(values).size).toBe(unique.length);
  });
});
