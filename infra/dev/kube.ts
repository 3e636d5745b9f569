/**
 * A real Kubernetes API server for tests, benchmarks and local use: etcd, kube-apiserver and
 * kube-scheduler built from source (see kube-build.ts), plus KWOK, which plays the kubelet of one
 * fake node so pods go through their lifecycle without running anything. Everything listens on
 * 127.0.0.1 with free ports and keeps its state in a temporary directory.
 *
 * Authorization is RBAC (so Roles and RoleBindings mean what they say); the returned token belongs
 * to a user in `system:masters`. No controller-manager runs: nothing creates ServiceAccount tokens
 * or default ServiceAccounts (so the ServiceAccount admission plugin is off), fills ResourceQuota
 * status, or garbage-collects. Pod fates are set by labels, see kwok-stages.yaml:
 * `kiln.dev/fake-exit-code`, `kiln.dev/fake-hold`, `kiln.dev/fake-duration`.
 *
 * Container logs come from KWOK's kubelet API through the API server as usual (`pods/log`), the
 * same lines for every container. Unlike a real kubelet, a `follow=true` stream does not end when
 * the container does (KWOK cannot tell): it stays open after the lines until the client closes it.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { obtainKube, type ObtainKubeOptions } from './kube-build.ts';
import { freePort, startServerProcess, waitUntilReady, type ServerProcess } from './server-process.ts';

/** Pod labels understood by the fake node (values are strings, as labels are). */
export const FAKE_POD_LABELS = {
  /** An integer: the pod ends Failed, its containers terminated with this exit code. */
  exitCode: 'kiln.dev/fake-exit-code',
  /** `"true"`: the pod stays Running until the label changes or the pod is deleted. */
  hold: 'kiln.dev/fake-hold',
  /** A Go duration (`"5s"`): how long the pod stays Running. */
  duration: 'kiln.dev/fake-duration',
} as const;

/** Name of the fake node every pod is scheduled onto. */
export const FAKE_NODE_NAME = 'kiln-fake-node';

export interface StartKubeOptions extends ObtainKubeOptions {
  /**
   * What the log API returns for every container of every pod (the fake node runs nothing): these
   * lines on stdout, timestamped when the server started.
   * @default ['fake log line 1', 'fake log line 2']
   */
  podLogLines?: string[];
}

export interface RunningKube {
  /** `https://127.0.0.1:<port>`. */
  server: string;
  /** Bearer token of an admin user (group `system:masters`). */
  token: string;
  /** PEM of the certificate authority that signed the server certificate. */
  caData: string;
  /** A kubeconfig for the admin user (loadable by `KubeConfig.loadFromFile`). */
  kubeconfigPath: string;
  /** The fake node pods run on. */
  nodeName: string;
  /** Stops every process and removes the temporary directory. Safe to call twice. */
  stop(): Promise<void>;
}

const run = promisify(execFile);

/**
 * Starts etcd, kube-apiserver, kube-scheduler and KWOK with one Ready fake node and the RuntimeClass
 * `gvisor` (as in infra/k8s); resolves once a pod would be scheduled and run.
 */
export async function startKube(options: StartKubeOptions = {}): Promise<RunningKube> {
  const progress = options.onProgress ?? (() => {});
  const binaries = await obtainKube(options);
  const started = Date.now();
  const dir = await mkdtemp(join(tmpdir(), 'kiln-kube-'));
  const processes: ServerProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const server of processes.reverse()) await server.stop('SIGTERM', 5_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [etcdPort, peerPort, apiPort, schedulerPort, kubeletPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = startServerProcess(binaries.etcd, [
      '--name=kiln',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=kiln=${peerUrl}`,
      // Throwaway data: durability costs time and nothing else here.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ]);
    processes.push(etcd);
    const tls = await writeCredentials(dir);
    await waitUntilReady(etcd, 'etcd', async () => (await fetch(`${etcdUrl}/health`)).ok);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startServerProcess(binaries.kubeApiserver, [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--tls-cert-file=${tls.certFile}`,
      `--tls-private-key-file=${tls.keyFile}`,
      `--token-auth-file=${tls.tokenFile}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${tls.serviceAccountPublicKeyFile}`,
      `--service-account-signing-key-file=${tls.serviceAccountKeyFile}`,
      '--service-cluster-ip-range=10.96.0.0/16',
      // ServiceAccount needs the token controller and default ServiceAccounts; TaintNodesByCondition
      // taints new nodes not-ready until the node lifecycle controller lifts it. Both are parts of
      // the controller-manager, which does not run here.
      '--disable-admission-plugins=ServiceAccount,TaintNodesByCondition',
      // The `kubernetes` Service endpoints cannot point at a loopback address.
      '--endpoint-reconciler-type=none',
      // KWOK serves the node's kubelet API (pod logs) with the same certificate.
      `--kubelet-certificate-authority=${tls.certFile}`,
      '--kubelet-preferred-address-types=InternalIP',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
    ]);
    processes.push(apiserver);
    const api = kubeClient(server, tls.token, tls.caData);
    await waitUntilReady(
      apiserver,
      'kube-apiserver',
      async () => (await api('GET', '/readyz')).status === 200,
    );
    progress(`kube-apiserver ready on ${server} in ${Date.now() - started} ms`);

    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfig(server, tls.token, tls.caData), { mode: 0o600 });
    await expectCreated(
      api('POST', '/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name: FAKE_NODE_NAME,
          annotations: { 'kwok.x-k8s.io/node': 'fake' },
          labels: {
            'kubernetes.io/hostname': FAKE_NODE_NAME,
            'kubernetes.io/os': 'linux',
            'kubernetes.io/arch': 'amd64',
            type: 'kwok',
          },
        },
      }),
      `node ${FAKE_NODE_NAME}`,
    );
    await expectCreated(
      api('POST', '/apis/node.k8s.io/v1/runtimeclasses', {
        apiVersion: 'node.k8s.io/v1',
        kind: 'RuntimeClass',
        metadata: { name: 'gvisor' },
        handler: 'runsc',
      }),
      'RuntimeClass gvisor',
    );

    const kwok = startServerProcess(
      binaries.kwok,
      [
        `--kubeconfig=${kubeconfigPath}`,
        `--config=${join(import.meta.dirname, 'kwok-stages.yaml')}`,
        `--config=${await writePodLogs(dir, options.podLogLines ?? ['fake log line 1', 'fake log line 2'])}`,
        '--manage-all-nodes=false',
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        // The node's address is where the API server finds its kubelet: KWOK's server, here.
        '--node-ip=127.0.0.1',
        `--node-port=${kubeletPort}`,
        `--server-address=127.0.0.1:${kubeletPort}`,
        `--tls-cert-file=${tls.certFile}`,
        `--tls-private-key-file=${tls.keyFile}`,
        '--cidr=10.244.0.0/16',
      ],
      { env: { ...process.env, HOME: dir } },
    );
    processes.push(kwok);
    const scheduler = startServerProcess(binaries.kubeScheduler, [
      `--kubeconfig=${kubeconfigPath}`,
      `--authentication-kubeconfig=${kubeconfigPath}`,
      `--authorization-kubeconfig=${kubeconfigPath}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${schedulerPort}`,
    ]);
    processes.push(scheduler);
    await waitUntilReady(kwok, 'KWOK', async () => {
      const node = (await api('GET', `/api/v1/nodes/${FAKE_NODE_NAME}`)).body as NodeStatusView;
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    });
    await waitUntilReady(scheduler, 'kube-scheduler', async () => {
      const health = await httpsRequest(`https://127.0.0.1:${schedulerPort}/readyz`, {
        rejectUnauthorized: false,
      });
      return health.status === 200;
    });
    progress(`Kubernetes with a fake node ready in ${Date.now() - started} ms`);
    let stopped: Promise<void> | undefined;
    return {
      server,
      token: tls.token,
      caData: tls.caData,
      kubeconfigPath,
      nodeName: FAKE_NODE_NAME,
      stop: () => (stopped ??= stop()),
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface NodeStatusView {
  status?: { conditions?: { type: string; status: string }[] };
}

interface Credentials {
  certFile: string;
  keyFile: string;
  caData: string;
  tokenFile: string;
  token: string;
  serviceAccountKeyFile: string;
  serviceAccountPublicKeyFile: string;
}

/**
 * A self-signed serving certificate for 127.0.0.1 (Node cannot issue X.509 certificates, openssl
 * can), the key that signs ServiceAccount tokens, and the static token of the admin user.
 */
async function writeCredentials(dir: string): Promise<Credentials> {
  const certFile = join(dir, 'apiserver.crt');
  const keyFile = join(dir, 'apiserver.key');
  try {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '7',
      '-subj',
      '/CN=kiln-test-kube-apiserver',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ]);
  } catch (err) {
    throw new Error(`cannot create the API server certificate with openssl: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const serviceAccountKeyFile = join(dir, 'service-account.key');
  const serviceAccountPublicKeyFile = join(dir, 'service-account.pub');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  await writeFile(serviceAccountKeyFile, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
  await writeFile(serviceAccountPublicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }));
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  // token,user,uid,"groups"
  await writeFile(tokenFile, `${token},kiln-admin,kiln-admin,"system:masters"\n`, { mode: 0o600 });
  return {
    certFile,
    keyFile,
    caData: await readFile(certFile, 'utf8'),
    tokenFile,
    token,
    serviceAccountKeyFile,
    serviceAccountPublicKeyFile,
  };
}

/**
 * A container log in the CRI file format the kubelet reads, and the KWOK configuration that serves
 * it for every container of every pod on the fake node; returns the configuration's path.
 */
async function writePodLogs(dir: string, lines: string[]): Promise<string> {
  const logFile = join(dir, 'container.log');
  const now = new Date().toISOString().replace('Z', '000000Z');
  await writeFile(logFile, lines.map((line) => `${now} stdout F ${line}\n`).join(''));
  const configFile = join(dir, 'kwok-logs.yaml');
  await writeFile(
    configFile,
    [
      'apiVersion: kwok.x-k8s.io/v1alpha1',
      'kind: ClusterLogs',
      'metadata:',
      '  name: kiln-fake-logs',
      'spec:',
      '  logs:',
      `    - logsFile: ${JSON.stringify(logFile)}`,
      '',
    ].join('\n'),
  );
  return configFile;
}

function kubeconfig(server: string, token: string, caData: string): string {
  const ca = Buffer.from(caData).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: kiln-test',
    '    cluster:',
    `      server: ${server}`,
    `      certificate-authority-data: ${ca}`,
    'users:',
    '  - name: kiln-admin',
    '    user:',
    `      token: ${token}`,
    'contexts:',
    '  - name: kiln-test',
    '    context:',
    '      cluster: kiln-test',
    '      user: kiln-admin',
    'current-context: kiln-test',
    '',
  ].join('\n');
}

interface HttpsResult {
  status: number;
  body: unknown;
}

/** A minimal authenticated JSON client for the few calls the start-up needs. */
function kubeClient(
  server: string,
  token: string,
  ca: string,
): (method: string, path: string, body?: unknown) => Promise<HttpsResult> {
  return (method, path, body) =>
    httpsRequest(`${server}${path}`, {
      method,
      ca,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

function httpsRequest(
  url: string,
  options: {
    method?: string;
    ca?: string;
    rejectUnauthorized?: boolean;
    headers?: Record<string, string>;
    body?: string;
  },
): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        rejectUnauthorized: options.rejectUnauthorized,
        headers: options.headers,
        timeout: 5_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Health endpoints answer plain text.
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

async function expectCreated(result: Promise<HttpsResult>, what: string): Promise<void> {
  const { status, body } = await result;
  if (status !== 201 && status !== 200) {
    throw new Error(`creating ${what} failed (${status}): ${JSON.stringify(body)}`);
  }
}
