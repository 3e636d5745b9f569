import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Readable } from 'node:stream';
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Pod,
  type V1Secret,
} from '@kubernetes/client-node';
import { TokenBucket } from './token-bucket.ts';

/** How to reach the API server. */
export interface KubeConnection {
  /** A kubeconfig file; empty or absent means in-cluster (the service account of the worker's pod). */
  kubeconfigPath?: string;
  /** Client-side rate limit of API calls (client-go's defaults). @default 20 */
  qps?: number;
  /** @default 30 */
  burst?: number;
  /**
   * How long the server keeps a watch open before closing it (then it is resumed from the last
   * resource version); below the client's 30 s inactivity timer. @default 25
   */
  watchTimeoutSeconds?: number;
}

/** A watch event on one pod. */
export interface PodEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  pod: V1Pod;
}

/**
 * The few Kubernetes calls the runner backend and the reaper make, each one through the client-side
 * rate limiter (a watch or a log stream takes one token when it opens).
 */
export class KubeApi {
  readonly config: KubeConfig;
  readonly limiter: TokenBucket;
  readonly #core: CoreV1Api;
  readonly #watch: Watch;
  readonly #watchTimeoutSeconds: number;

  constructor(connection: KubeConnection) {
    this.#watchTimeoutSeconds = connection.watchTimeoutSeconds ?? 25;
    this.config = new KubeConfig();
    if (connection.kubeconfigPath) this.config.loadFromFile(connection.kubeconfigPath);
    else this.config.loadFromCluster();
    this.limiter = new TokenBucket({ qps: connection.qps ?? 20, burst: connection.burst ?? 30 });
    this.#core = this.config.makeApiClient(CoreV1Api);
    this.#watch = new Watch(this.config);
  }

  async createPod(namespace: string, body: V1Pod): Promise<V1Pod> {
    await this.limiter.take();
    return this.#core.createNamespacedPod({ namespace, body });
  }

  async createSecret(namespace: string, body: V1Secret): Promise<V1Secret> {
    await this.limiter.take();
    return this.#core.createNamespacedSecret({ namespace, body });
  }

  /** The pod, or undefined when there is none. */
  async readPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    await this.limiter.take();
    return this.#core.readNamespacedPod({ namespace, name }).catch(undefinedOn404);
  }

  /** The Secret, or undefined when there is none. */
  async readSecret(namespace: string, name: string): Promise<V1Secret | undefined> {
    await this.limiter.take();
    return this.#core.readNamespacedSecret({ namespace, name }).catch(undefinedOn404);
  }

  /** One pod by name through a list, which also gives the resource version to watch from. */
  async listPod(namespace: string, name: string): Promise<{ pod?: V1Pod; resourceVersion: string }> {
    await this.limiter.take();
    const list = await this.#core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` });
    return { pod: list.items[0], resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async listPods(namespace: string, labelSelector: string): Promise<V1Pod[]> {
    const pods: V1Pod[] = [];
    let next: string | undefined;
    do {
      await this.limiter.take();
      const page = await this.#core.listNamespacedPod({
        namespace,
        labelSelector,
        limit: 500,
        _continue: next,
      });
      pods.push(...page.items);
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    return pods;
  }

  async listSecrets(namespace: string, labelSelector: string): Promise<V1Secret[]> {
    const secrets: V1Secret[] = [];
    let next: string | undefined;
    do {
      await this.limiter.take();
      const page = await this.#core.listNamespacedSecret({
        namespace,
        labelSelector,
        limit: 500,
        _continue: next,
      });
      secrets.push(...page.items);
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    return secrets;
  }

  /** Deletes the pod; false when there was none. */
  async deletePod(namespace: string, name: string, gracePeriodSeconds?: number): Promise<boolean> {
    await this.limiter.take();
    return this.#core
      .deleteNamespacedPod({ namespace, name, gracePeriodSeconds })
      .then(() => true)
      .catch((err: unknown) => (undefinedOn404(err) === undefined ? false : true));
  }

  /** Deletes the Secret; false when there was none. */
  async deleteSecret(namespace: string, name: string): Promise<boolean> {
    await this.limiter.take();
    return this.#core
      .deleteNamespacedSecret({ namespace, name })
      .then(() => true)
      .catch((err: unknown) => (undefinedOn404(err) === undefined ? false : true));
  }

  /** Merges annotations into the pod's; undefined when there is no such pod. */
  async annotatePod(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
  ): Promise<V1Pod | undefined> {
    await this.limiter.take();
    return this.#core
      .patchNamespacedPod(
        { namespace, name, body: { metadata: { annotations } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(undefinedOn404);
  }

  /** Merges annotations into the Secret's; undefined when there is no such Secret. */
  async annotateSecret(
    namespace: string,
    name: string,
    annotations: Record<string, string>,
  ): Promise<V1Secret | undefined> {
    await this.limiter.take();
    return this.#core
      .patchNamespacedSecret(
        { namespace, name, body: { metadata: { annotations } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch(undefinedOn404);
  }

  /**
   * Watches one pod from `resourceVersion`. `onEvent` gets each change; `onDone` is called once
   * when the watch ends: `undefined` for a normal close (the server's timeout), an error otherwise
   * (`statusOf(err) === 410` when the resource version is too old). Returns a stop function.
   */
  async watchPod(
    namespace: string,
    name: string,
    resourceVersion: string,
    onEvent: (event: PodEvent) => void,
    onDone: (err?: unknown) => void,
  ): Promise<() => void> {
    await this.limiter.take();
    let ended = false;
    const done = (err?: unknown) => {
      if (ended) return;
      ended = true;
      onDone(err ?? undefined);
    };
    const controller = await this.#watch.watch(
      `/api/v1/namespaces/${namespace}/pods`,
      {
        fieldSelector: `metadata.name=${name}`,
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: this.#watchTimeoutSeconds,
      },
      (type: string, object: unknown) => {
        if (ended) return;
        if (type === 'ERROR') {
          const status = object as { code?: number; message?: string };
          done(Object.assign(new Error(status.message ?? 'watch error'), { statusCode: status.code }));
          return;
        }
        onEvent({ type: type as PodEvent['type'], pod: object as V1Pod });
      },
      (err: unknown) => done(err),
    );
    return () => {
      ended = true;
      controller.abort();
    };
  }

  /**
   * Opens one container's log (timestamps on). Resolves with the byte stream once the server
   * answered; rejects with the server's status (400 while the container has not started) or when
   * no answer came within `LOG_ANSWER_MS`. The stream reports a broken connection as an error.
   */
  async openLog(
    namespace: string,
    pod: string,
    container: string,
    options: { follow: boolean; sinceTime?: string },
  ): Promise<{ stream: Readable; abort: () => void }> {
    await this.limiter.take();
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(`${cluster.server}/api/v1/namespaces/${namespace}/pods/${pod}/log`);
    url.searchParams.set('container', container);
    url.searchParams.set('follow', String(options.follow));
    url.searchParams.set('timestamps', 'true');
    if (options.sinceTime !== undefined) url.searchParams.set('sinceTime', options.sinceTime);
    const requestOptions: RequestOptions = { method: 'GET', headers: {} };
    await this.config.applyToHTTPSOptions(requestOptions);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, requestOptions);
      const timer = setTimeout(
        () => req.destroy(new Error(`no answer to the log request within ${LOG_ANSWER_MS / 1000} s`)),
        LOG_ANSWER_MS,
      );
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.once('response', (res: IncomingMessage) => {
        clearTimeout(timer);
        if (res.statusCode === 200) {
          resolve({ stream: res, abort: () => res.destroy() });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', reject);
        res.once('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const err = Object.assign(new Error(`log of ${container}: HTTP ${res.statusCode}`), {
            statusCode: res.statusCode,
            body,
          });
          reject(err);
        });
      });
      req.end();
    });
  }
}

/** How long a log request may wait for the server's answer (a node that cannot be reached). */
const LOG_ANSWER_MS = 15_000;

/** The HTTP status of a Kubernetes client error, if it has one. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** A short message for a Kubernetes client error (the Status message when the server sent one). */
export function messageOf(err: unknown): string {
  const body = (err as { body?: unknown } | undefined)?.body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      // not JSON: fall through
    }
  } else if (typeof body === 'object' && body !== null && 'message' in body) {
    return String((body as { message: unknown }).message);
  }
  return err instanceof Error ? err.message : String(err);
}

function undefinedOn404(err: unknown): undefined {
  if (statusOf(err) === 404) return undefined;
  throw err;
}
