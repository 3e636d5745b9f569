import { join, resolve } from 'node:path';
import { request, type RequestOptions } from 'node:https';
import { AuthorizationV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startKube, type RunningKube } from '../../infra/dev/kube.ts';
import { renderKustomization, type KubeObject } from '../../infra/dev/kustomize.ts';

const k8sDir = resolve(import.meta.dirname, '..', '..', 'infra', 'k8s');
const progress = (message: string): void => console.log(`[k8s] ${message}`);

let kube: RunningKube;
let config: KubeConfig;
let authorization: AuthorizationV1Api;
let base: KubeObject[];
let vector: KubeObject[];

beforeAll(async () => {
  [kube, base, vector] = await Promise.all([
    startKube({ onProgress: progress }),
    renderKustomization(k8sDir, { onProgress: progress }),
    renderKustomization(join(k8sDir, 'vector'), { onProgress: progress }),
  ]);
  config = new KubeConfig();
  config.loadFromFile(kube.kubeconfigPath);
  authorization = config.makeApiClient(AuthorizationV1Api);
}, 3_600_000);

afterAll(async () => {
  await kube?.stop();
});

/** Plural resource name and scope of each `apiVersion/kind`, from the server's discovery. */
const discovered = new Map<string, { plural: string; namespaced: boolean }>();

/** An authenticated request to the test server; rejects with the server's message unless 2xx. */
async function kubeRequest(
  method: string,
  path: string,
  body?: string,
  contentType?: string,
): Promise<unknown> {
  const options: RequestOptions = { method, headers: contentType ? { 'content-type': contentType } : {} };
  await config.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(`${kube.server}${path}`, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve(JSON.parse(text));
        else
          reject(
            new Error(
              `${method} ${path}: ${status} ${(JSON.parse(text) as { message?: string }).message ?? text}`,
            ),
          );
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function resourceOf(
  apiVersion: string,
  kind: string,
): Promise<{ plural: string; namespaced: boolean }> {
  if (!discovered.has(`${apiVersion}/${kind}`)) {
    const list = (await kubeRequest('GET', apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`)) as {
      resources: { name: string; kind: string; namespaced: boolean }[];
    };
    for (const r of list.resources) {
      if (!r.name.includes('/'))
        discovered.set(`${apiVersion}/${r.kind}`, { plural: r.name, namespaced: r.namespaced });
    }
  }
  const found = discovered.get(`${apiVersion}/${kind}`);
  if (found === undefined) throw new Error(`the server does not serve ${kind} in ${apiVersion}`);
  return found;
}

/**
 * Server-side apply, as `kubectl apply --server-side [--dry-run=server]` does, with strict field
 * validation: an unknown or duplicated field is an error, not a warning.
 */
async function apply(object: KubeObject, dryRun: boolean): Promise<unknown> {
  const { plural, namespaced } = await resourceOf(object.apiVersion, object.kind);
  const prefix = object.apiVersion === 'v1' ? '/api/v1' : `/apis/${object.apiVersion}`;
  const scope = namespaced ? `/namespaces/${object.metadata.namespace ?? 'default'}` : '';
  const query = new URLSearchParams({
    fieldManager: 'kiln-manifests-test',
    force: 'true',
    fieldValidation: 'Strict',
  });
  if (dryRun) query.set('dryRun', 'All');
  const path = `${prefix}${scope}/${plural}/${object.metadata.name}?${query}`;
  try {
    return await kubeRequest('PATCH', path, JSON.stringify(object), 'application/apply-patch+yaml');
  } catch (err) {
    const what = `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    throw new Error(`${what} rejected: ${(err as Error).message}`, { cause: err });
  }
}

function find(list: KubeObject[], kind: string, name: string): KubeObject & Record<string, unknown> {
  const found = list.find((o) => o.kind === kind && o.metadata.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} in the rendered manifests`);
  return found;
}

interface PodSpecView {
  serviceAccountName?: string;
  containers: {
    name: string;
    readinessProbe?: unknown;
    livenessProbe?: unknown;
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  }[];
}

const templateOf = (workload: KubeObject): { metadata?: object; spec: PodSpecView } =>
  (workload as unknown as { spec: { template: { metadata?: object; spec: PodSpecView } } }).spec.template;

/** Whether IPv4 `cidr` contains `address`. */
function cidrContains(cidr: string, address: string): boolean {
  const toInt = (ip: string): number => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  const [network, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toInt(address) / size) === Math.floor(toInt(network!) / size);
}

describe('infra/k8s on a real API server', () => {
  it('renders the base and the Vector overlay with kustomize', () => {
    const kinds = new Set(base.map((o) => o.kind));
    for (const kind of [
      'Namespace',
      'RuntimeClass',
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'NetworkPolicy',
      'ResourceQuota',
      'LimitRange',
      'Deployment',
      'HorizontalPodAutoscaler',
      'ConfigMap',
      'Service',
    ]) {
      expect(kinds, kind).toContain(kind);
    }
    expect(vector.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'DaemonSet',
      'Namespace',
      'ServiceAccount',
    ]);
  });

  it('accepts every object under server-side dry run', async () => {
    const all = [...base, ...vector];
    // Namespaced objects are only admitted into namespaces that exist: create those for real first.
    for (const namespace of all.filter((o) => o.kind === 'Namespace')) await apply(namespace, false);
    for (const object of all) await apply(object, true);
  });

  it('admits the pods of every workload under its namespace’s Pod Security level', async () => {
    // Pod Security only warns about Deployments; it rejects their pods. Dry-run one per template.
    const workloads = [...base, ...vector].filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
    expect(workloads.length).toBe(5);
    for (const workload of workloads) {
      const template = templateOf(workload);
      await apply(
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: `${workload.metadata.name}-probe`, namespace: workload.metadata.namespace },
          spec: template.spec,
        },
        true,
      );
    }
  });

  it('gives every Kiln deployment resources and both probes, and each worker an autoscaler', () => {
    const deployments = base.filter((o) => o.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([
      'kiln-api',
      'kiln-log-archiver',
      'kiln-orchestrator-worker',
      'kiln-runner-worker',
    ]);
    for (const deployment of deployments) {
      for (const container of templateOf(deployment).spec.containers) {
        const where = `${deployment.metadata.name}/${container.name}`;
        expect(container.readinessProbe, where).toBeDefined();
        expect(container.livenessProbe, where).toBeDefined();
        expect(Object.keys(container.resources?.requests ?? {}).sort(), where).toEqual(['cpu', 'memory']);
        expect(Object.keys(container.resources?.limits ?? {}).sort(), where).toEqual(['cpu', 'memory']);
      }
    }
    const scaled = base
      .filter((o) => o.kind === 'HorizontalPodAutoscaler')
      .map(
        (o) =>
          (o as unknown as { spec: { scaleTargetRef: { kind: string; name: string } } }).spec.scaleTargetRef,
      );
    expect(scaled.map((ref) => `${ref.kind}/${ref.name}`).sort()).toEqual([
      'Deployment/kiln-orchestrator-worker',
      'Deployment/kiln-runner-worker',
    ]);
  });

  it('lets only the runner worker manage job pods, with exactly the verbs it needs', async () => {
    const role = find(base, 'Role', 'kiln-runner-worker') as unknown as {
      metadata: { namespace: string };
      rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
    };
    expect(role.metadata.namespace).toBe('kiln-runners');
    const verbs = Object.fromEntries(
      role.rules.flatMap((r) => r.resources.map((res) => [res, [...r.verbs].sort()])),
    );
    expect(verbs).toEqual({
      pods: ['create', 'delete', 'get', 'list', 'patch', 'watch'],
      'pods/log': ['get'],
      secrets: ['create', 'delete', 'get', 'list', 'patch'],
    });
    expect(templateOf(find(base, 'Deployment', 'kiln-runner-worker')).spec.serviceAccountName).toBe(
      'kiln-runner-worker',
    );
    for (const name of ['kiln-api', 'kiln-orchestrator-worker', 'kiln-log-archiver']) {
      const account = find(base, 'ServiceAccount', name);
      expect(account.automountServiceAccountToken, name).toBe(false);
      expect(templateOf(find(base, 'Deployment', name)).spec.serviceAccountName).toBe(name);
    }

    // What the API server itself decides once the RBAC objects exist.
    for (const object of base.filter((o) => ['ServiceAccount', 'Role', 'RoleBinding'].includes(o.kind))) {
      await apply(object, false);
    }
    const can = async (
      namespace: string,
      verb: string,
      resource: string,
      subresource?: string,
    ): Promise<boolean> => {
      const review = await authorization.createSubjectAccessReview({
        body: {
          spec: {
            user: 'system:serviceaccount:kiln-system:kiln-runner-worker',
            groups: ['system:serviceaccounts', 'system:serviceaccounts:kiln-system', 'system:authenticated'],
            resourceAttributes: { namespace, verb, resource, subresource },
          },
        },
      });
      return review.status?.allowed ?? false;
    };
    expect(await can('kiln-runners', 'create', 'pods')).toBe(true);
    expect(await can('kiln-runners', 'watch', 'pods')).toBe(true);
    expect(await can('kiln-runners', 'get', 'pods', 'log')).toBe(true);
    expect(await can('kiln-runners', 'create', 'pods', 'exec')).toBe(false);
    expect(await can('kiln-runners', 'update', 'pods')).toBe(false);
    expect(await can('kiln-system', 'create', 'pods')).toBe(false);
    expect(await can('kiln-system', 'get', 'secrets')).toBe(false);
    expect(await can('kiln-runners', 'list', 'configmaps')).toBe(false);
  });

  it('isolates job pods: no ingress, egress only to DNS and the public internet', () => {
    const policy = find(base, 'NetworkPolicy', 'kiln-runners-isolation') as unknown as {
      metadata: { namespace: string };
      spec: {
        podSelector: object;
        policyTypes: string[];
        ingress?: unknown[];
        egress: {
          to: { ipBlock?: { cidr: string; except?: string[] }; namespaceSelector?: object }[];
          ports?: { protocol: string; port: number }[];
        }[];
      };
    };
    expect(policy.metadata.namespace).toBe('kiln-runners');
    expect(policy.spec.podSelector).toEqual({});
    expect([...policy.spec.policyTypes].sort()).toEqual(['Egress', 'Ingress']);
    expect(policy.spec.ingress ?? []).toEqual([]);
    const dns = policy.spec.egress.find((rule) => rule.to.some((peer) => peer.namespaceSelector));
    expect(dns?.ports?.map((p) => `${p.protocol}/${p.port}`).sort()).toEqual(['TCP/53', 'UDP/53']);
    const blocks = policy.spec.egress.flatMap((rule) => rule.to.flatMap((peer) => peer.ipBlock ?? []));
    const v4 = blocks.find((block) => block.cidr === '0.0.0.0/0');
    expect(v4).toBeDefined();
    const excluded = (address: string): boolean =>
      (v4?.except ?? []).some((cidr) => cidrContains(cidr, address));
    for (const address of [
      '169.254.169.254',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '127.0.0.1',
    ]) {
      expect(excluded(address), address).toBe(true);
    }
    expect(excluded('1.1.1.1')).toBe(false);
  });

  it('bounds job pods with a quota and per-container limits, and offers the gVisor runtime class', () => {
    expect(find(base, 'ResourceQuota', 'kiln-runners').metadata.namespace).toBe('kiln-runners');
    expect(find(base, 'LimitRange', 'kiln-runners').metadata.namespace).toBe('kiln-runners');
    expect(find(base, 'RuntimeClass', 'gvisor').handler).toBe('runsc');
  });

  it('ships job pod logs with Vector to the topic and brokers Kiln is configured with', () => {
    const kilnConfig = find(base, 'ConfigMap', 'kiln-config').data as Record<string, string>;
    const vectorConfig = parse(
      (find(vector, 'ConfigMap', 'kiln-vector').data as Record<string, string>)['vector.yaml']!,
    ) as {
      sources: Record<string, { type: string; extra_namespace_label_selector?: string }>;
      sinks: Record<string, { type: string; topic: string; bootstrap_servers: string; key_field: string }>;
    };
    const source = Object.values(vectorConfig.sources)[0]!;
    expect(source.type).toBe('kubernetes_logs');
    expect(source.extra_namespace_label_selector).toBe('kubernetes.io/metadata.name=kiln-runners');
    const sink = Object.values(vectorConfig.sinks)[0]!;
    expect(sink.type).toBe('kafka');
    expect(sink.topic).toBe(kilnConfig.KILN_LOGS_TOPIC);
    expect(sink.bootstrap_servers).toBe(kilnConfig.KILN_KAFKA_BROKERS);
    expect(sink.key_field).toBe('kafka_key');
  });
});
