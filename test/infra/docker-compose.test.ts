import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { CONFIG_KEYS, loadConfig } from '../../shared/config.ts';
import { KILN_SEARCH_ATTRIBUTES } from '../../infra/temporal/search-attributes.ts';

const root = resolve(import.meta.dirname, '..', '..');
const k8sDir = join(root, 'infra', 'k8s');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string> | string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: unknown };
  volumes?: string[];
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

/** `${NAME:?message}` / `${NAME:-default}` / `${NAME}` → the default, or a value valid for any setting. */
function substitute(value: string): string {
  return value.replace(/\$\{[A-Z0-9_]+(?::?-([^}]*)|:?\?[^}]*)?\}/g, (_match, fallback?: string) => {
    return fallback ?? 'placeholder-token-0123456789';
  });
}

function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
    : Object.entries(env);
  return Object.fromEntries(entries.map(([key, value]) => [key, substitute(String(value))]));
}

const kilnServices = ['api', 'orchestrator-worker', 'runner-worker'];

describe('docker-compose.yml', () => {
  it('has the whole stack', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining([
        'postgresql',
        'temporal',
        'temporal-ui',
        'temporal-search-attributes',
        ...kilnServices,
      ]),
    );
    expect(services.postgresql?.image).toBe('postgres:16');
    expect(services.temporal?.image).toMatch(/^temporalio\/(auto-setup|server):/);
    expect(services['temporal-ui']?.image).toMatch(/^temporalio\/ui:/);
    expect(services['temporal-search-attributes']?.image).toMatch(/^temporalio\/admin-tools:/);
  });

  it('builds Kiln services from the Dockerfile with their entry points', () => {
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
    expect(services.api?.command).toEqual(['node', 'workers/api.ts']);
    expect(services['orchestrator-worker']?.command).toEqual(['node', 'workers/orchestrator.ts']);
    expect(services['runner-worker']?.command).toEqual(['node', 'workers/runner.ts']);
    for (const name of kilnServices) expect(services[name]?.build, name).toBeDefined();
  });

  it('sets only known KILN_* settings, and they pass loadConfig', () => {
    const known = new Set<string>(CONFIG_KEYS);
    for (const [name, service] of Object.entries(services)) {
      const env = environmentOf(service);
      const kilnKeys = Object.keys(env).filter((key) => key.startsWith('KILN_'));
      for (const key of kilnKeys) expect(known.has(key), `${name}: ${key}`).toBe(true);
      if (kilnKeys.length > 0) expect(() => loadConfig(env), name).not.toThrow();
    }
  });

  it('requires the API token from the environment instead of a default', () => {
    const raw = services.api?.environment as Record<string, string>;
    expect(raw.KILN_API_TOKEN).toMatch(/^\$\{KILN_API_TOKEN:\?/);
    expect(environmentOf(services.api!).KILN_API_TOKEN).toBe('placeholder-token-0123456789');
    const config = loadConfig(environmentOf(services.api!));
    expect(config.KILN_TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(config.KILN_API_HOST).toBe('0.0.0.0');
  });

  it('waits on healthy dependencies that exist', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency], `${name} depends on ${dependency}`).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully', 'service_started']).toContain(condition);
      }
    }
    for (const name of ['postgresql', 'temporal', 'api'])
      expect(services[name]?.healthcheck, name).toBeDefined();
    expect(services.api?.depends_on?.['temporal-search-attributes']?.condition).toBe(
      'service_completed_successfully',
    );
  });

  it('shares the data volume between the runner worker and the API', () => {
    const dataVolume = (name: string) => services[name]?.volumes?.find((v) => v.endsWith(':/var/lib/kiln'));
    expect(dataVolume('api')).toBeDefined();
    expect(dataVolume('api')).toBe(dataVolume('runner-worker'));
    expect(Object.keys(compose.volumes)).toContain(dataVolume('api')!.split(':')[0]);
  });

  it('registers every Kiln search attribute', () => {
    const script = services['temporal-search-attributes']?.command?.join('\n') ?? '';
    for (const { name } of KILN_SEARCH_ATTRIBUTES) expect(script).toContain(name);
    expect(script).toContain('--type Keyword');
  });
});

interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> };
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec?: { containers?: { image?: string; envFrom?: { configMapRef?: { name: string } }[] }[] };
    };
  };
}

function k8sObjects(): { file: string; object: K8sObject }[] {
  const files = readdirSync(k8sDir).filter((file) => /\.ya?ml$/.test(file));
  return files.flatMap((file) => {
    const documents = parseAllDocuments(readFileSync(join(k8sDir, file), 'utf8'));
    if (!Array.isArray(documents)) throw new Error(`${file}: not a YAML stream`);
    return documents.map((document) => {
      expect(document.errors, file).toEqual([]);
      return { file, object: document.toJS() as K8sObject };
    });
  });
}

/** Kinds without a namespace. */
const CLUSTER_SCOPED_KINDS = new Set(['Namespace', 'RuntimeClass']);

describe('infra/k8s', () => {
  const objects = k8sObjects();
  const kustomization = parse(readFileSync(join(k8sDir, 'kustomization.yaml'), 'utf8')) as {
    resources: string[];
  };
  const resources = objects
    .filter(({ file }) => kustomization.resources.includes(file))
    .map(({ object }) => object);

  it('lists resources that exist, and every manifest is listed', () => {
    for (const file of kustomization.resources) expect(existsSync(join(k8sDir, file)), file).toBe(true);
    const manifests = new Set(
      objects.filter(({ object }) => object.kind !== 'Kustomization').map(({ file }) => file),
    );
    expect([...manifests].sort()).toEqual([...kustomization.resources].sort());
  });

  it('has well-formed objects in the two namespaces', () => {
    for (const object of resources) {
      expect(object.apiVersion, JSON.stringify(object.metadata)).toBeTruthy();
      expect(object.kind).toBeTruthy();
      expect(object.metadata?.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
      if (!CLUSTER_SCOPED_KINDS.has(object.kind ?? ''))
        expect(['kiln-system', 'kiln-runners']).toContain(object.metadata?.namespace);
    }
    const namespaces = resources.filter((o) => o.kind === 'Namespace').map((o) => o.metadata?.name);
    expect(namespaces.sort()).toEqual(['kiln-runners', 'kiln-system']);
  });

  it('configures Kiln with known settings that pass loadConfig', () => {
    const configMaps = resources.filter((o) => o.kind === 'ConfigMap');
    for (const configMap of configMaps) {
      const data = configMap.data ?? {};
      for (const key of Object.keys(data)) expect(CONFIG_KEYS as string[]).toContain(key);
      expect(() => loadConfig(data)).not.toThrow();
    }
  });

  it('runs the API, both workers and the log archiver from the Kiln image with consistent selectors', () => {
    const deployments = resources.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata?.name).sort()).toEqual([
      'kiln-api',
      'kiln-log-archiver',
      'kiln-orchestrator-worker',
      'kiln-runner-worker',
    ]);
    const configMapNames = resources.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata?.name);
    for (const deployment of deployments) {
      const labels = deployment.spec?.template?.metadata?.labels ?? {};
      expect(labels).toMatchObject(deployment.spec?.selector?.matchLabels ?? { missing: 'selector' });
      for (const container of deployment.spec?.template?.spec?.containers ?? []) {
        expect(container.image).toBe('kiln');
        const refs = (container.envFrom ?? []).flatMap((source) => source.configMapRef?.name ?? []);
        for (const ref of refs) expect(configMapNames).toContain(ref);
      }
    }
    expect(resources.some((o) => o.kind === 'Service' && o.metadata?.name === 'kiln-api')).toBe(true);
  });
});
