import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import { FailureCodes, InfrastructureError, KilnError, NotFoundError } from '../../../shared/errors.ts';
import { createMasker, withMasking } from '../../logs/masker.ts';
import type { LogSinkFactory, LogTarget } from '../../logs/port.ts';
import { reportChangesOnly } from '../progress.ts';
import type { RunnerBackend, RunnerOutcome, RunnerProgress, RunnerSpec } from '../port.ts';
import { classifyPod, stepNamesOf } from './classify.ts';
import { messageOf, statusOf, type KubeApi } from './kube-api.ts';
import { parseCheckpoint } from './log-checkpoint.ts';
import { LogPump } from './log-pump.ts';
import { podName, secretName } from './names.ts';
import {
  buildRunnerPod,
  buildRunnerSecret,
  CHECKOUT_CONTAINER,
  KUBE_ANNOTATIONS,
  KUBE_LABELS,
  type PodSettings,
} from './pod-spec.ts';

/** Options of {@link KubernetesRunnerBackend}. */
export interface KubernetesRunnerBackendOptions {
  api: KubeApi;
  pod: PodSettings;
  /** Where job logs go (the backend reads them from the pods and writes them there). */
  logSinks: LogSinkFactory;
  /** A pod not scheduled for this long failed to start. @default 300_000 */
  scheduleTimeoutMs?: number;
  /** How long an image pull may keep failing before the start counts as failed. @default 120_000 */
  startProblemGraceMs?: number;
  /**
   * A runner whose Secret exists but whose pod has not appeared for this long (a start that died
   * half way, or a pod deleted while nobody watched) is lost. @default 60_000
   */
  missingPodMs?: number;
  /** How long the log may still be read once the attempt ended. @default 10_000 */
  logGraceMs?: number;
}

/** Re-judges the last seen pod this often, for the time-based rules (scheduling, image pull). */
const TICK_MS = 1_000;
const REWATCH_BACKOFF_MS = 1_000;
/** Consecutive failed watches (about a minute of backoff) before `wait` gives up. */
const MAX_WATCH_FAILURES = 15;

/**
 * Runs each job attempt as a Kubernetes pod (see `pod-spec.ts` for its shape and `classify.ts`
 * for how its end is judged). The pod and its Secret are the whole state: any worker can reattach
 * to a runner by name, and the log checkpoint lives on the pod.
 *
 * Every call to the API server goes through the client-side rate limiter of the {@link KubeApi}.
 */
export class KubernetesRunnerBackend implements RunnerBackend {
  readonly name = 'kubernetes';
  readonly #api: KubeApi;
  readonly #settings: PodSettings;
  readonly #logSinks: LogSinkFactory;
  readonly #scheduleTimeoutMs: number;
  readonly #startProblemGraceMs: number;
  readonly #missingPodMs: number;
  readonly #logGraceMs: number;

  constructor(options: KubernetesRunnerBackendOptions) {
    this.#api = options.api;
    this.#settings = options.pod;
    this.#logSinks = options.logSinks;
    this.#scheduleTimeoutMs = options.scheduleTimeoutMs ?? 300_000;
    this.#startProblemGraceMs = options.startProblemGraceMs ?? 120_000;
    this.#missingPodMs = options.missingPodMs ?? 60_000;
    this.#logGraceMs = options.logGraceMs ?? 10_000;
  }

  get namespace(): string {
    return this.#settings.namespace;
  }

  /**
   * Creates the Secret, then the pod. The Secret is the point that makes a start happen once: if
   * it exists already (409), this runner was started before and nothing more is created — not
   * even a pod that is missing, since that pod may have run (and been deleted or lost with its
   * node) and must not run its steps a second time; `wait` reports it as lost. A start that died
   * between the two (or whose pod creation failed and was retried) thus leaves a Secret without a
   * pod: `wait` reports RUNNER_LOST after `missingPodMs`, and the job is retried as a new attempt.
   * A pod that exists already (409) is the same runner, created by a concurrent start.
   */
  async start(spec: RunnerSpec): Promise<void> {
    const pod = buildRunnerPod(spec, this.#settings, new Date());
    const secret = buildRunnerSecret(spec, this.#settings);
    const ns = this.#settings.namespace;
    const created = await this.#create('Secret', () => this.#api.createSecret(ns, secret), spec.runnerId);
    if (!created) return;
    await this.#create('pod', () => this.#api.createPod(ns, pod), spec.runnerId);
  }

  async wait(
    runnerId: string,
    options: { signal?: AbortSignal; onProgress?: (progress: RunnerProgress) => void } = {},
  ): Promise<RunnerOutcome> {
    const ns = this.#settings.namespace;
    const name = podName(runnerId);
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    const secret = await this.#call(() => this.#api.readSecret(ns, secretName(runnerId)), runnerId);
    if (
      secret === undefined &&
      (await this.#call(() => this.#api.readPod(ns, name), runnerId)) === undefined
    ) {
      throw new NotFoundError('runner', `no runner ${runnerId}`);
    }
    const secretValues = Object.values(secret?.data ?? {}).map((v) =>
      Buffer.from(v, 'base64').toString('utf8'),
    );

    const report = reportChangesOnly(onProgress);

    return new Promise<RunnerOutcome>((resolve, reject) => {
      let settled = false;
      let stopWatch: (() => void) | undefined;
      let resourceVersion = '';
      let lastPod: V1Pod | undefined;
      let startProblemSince: number | undefined;
      let pump: LogPump | undefined;
      let concluding = false;
      let watchFailures = 0;
      const waitStarted = Date.now();

      const cleanup = () => {
        settled = true;
        stopWatch?.();
        clearInterval(ticker);
        signal?.removeEventListener('abort', onAbort);
      };
      const end = (settle: () => void) => {
        if (settled) return;
        cleanup();
        // The log is read to its end (bounded) before the attempt is reported over.
        const logs = pump?.finish(this.#logGraceMs).catch(() => undefined) ?? Promise.resolve();
        void logs.then(settle);
      };
      const fail = (err: unknown) => end(() => reject(err));
      const onAbort = () => {
        if (settled) return;
        cleanup();
        pump?.stop();
        reject(signal?.reason);
      };

      const judge = (pod: V1Pod) => {
        if (settled) return;
        lastPod = pod;
        pump ??= this.#startPump(pod, secretValues);
        pump?.observe(pod);
        const verdict = classifyPod(pod, {
          now: Date.now(),
          scheduleTimeoutMs: this.#scheduleTimeoutMs,
          startProblemGraceMs: this.#startProblemGraceMs,
          startProblemSince,
        });
        switch (verdict.kind) {
          case 'pending':
            if (verdict.startProblem === undefined) startProblemSince = undefined;
            else startProblemSince ??= Date.now();
            report(verdict.progress);
            return;
          case 'outcome': {
            const running = verdict.outcome.status === 'succeeded' ? undefined : verdict.outcome.failedStep;
            if (running !== undefined) report({ phase: 'running', step: running });
            end(() => resolve(verdict.outcome));
            return;
          }
          case 'error':
            fail(new InfrastructureError(verdict.code, `runner ${runnerId}: ${verdict.message}`));
            return;
          case 'deleting':
            gone('its pod is being deleted');
            return;
        }
      };
      /** The pod went away: cancelled by Kiln or lost (one look at the Secret decides, once). */
      const gone = (what: string) => {
        if (settled || concluding) return;
        concluding = true;
        void this.#whyGone(runnerId, what).then(fail, fail);
      };

      const missing = () => {
        if (settled) return;
        if (lastPod !== undefined) {
          gone('its pod was deleted');
          return;
        }
        // Not there yet: a `start` may be creating it right now. Give it a moment.
        const since = Math.max(waitStarted, createdAt(secret) ?? 0);
        if (Date.now() - since >= this.#missingPodMs)
          gone('its pod does not exist (deleted, or never created)');
      };

      const list = async () => {
        const listed = await this.#call(() => this.#api.listPod(ns, name), runnerId);
        resourceVersion = listed.resourceVersion;
        if (listed.pod) judge(listed.pod);
        else missing();
      };

      const watchFrom = async (): Promise<void> => {
        if (settled) return;
        stopWatch = await this.#api.watchPod(
          ns,
          name,
          resourceVersion,
          (event) => {
            resourceVersion = event.pod.metadata?.resourceVersion ?? resourceVersion;
            watchFailures = 0;
            if (event.type === 'BOOKMARK') return;
            if (event.type === 'DELETED') {
              lastPod ??= event.pod;
              missing();
            } else judge(event.pod);
          },
          resume,
        );
        if (settled) stopWatch();
      };

      /**
       * The watch ended. Closed by the server (its timeout): watch on from the last resource
       * version. Failed: pause, then watch again — listing again first on `410 Gone` (the version
       * is too old) or after a second failure. An API server unreachable for long ends the wait
       * with a plain error, so the activity is retried (and reattaches) rather than hanging.
       */
      function resume(err?: unknown): void {
        if (settled) return;
        if (err === undefined || err === null) {
          watchFrom().catch(resume);
          return;
        }
        watchFailures += 1;
        if (watchFailures > MAX_WATCH_FAILURES) {
          fail(new Error(`runner ${runnerId}: cannot watch its pod: ${messageOf(err)}`, { cause: err }));
          return;
        }
        const relist = statusOf(err) === 410 || watchFailures > 1;
        setTimeout(
          () => void (relist ? list().then(watchFrom) : watchFrom()).catch(resume),
          REWATCH_BACKOFF_MS * Math.min(watchFailures, 5),
        );
      }

      const ticker = setInterval(() => {
        if (lastPod) judge(lastPod);
        else missing();
      }, TICK_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      list().then(watchFrom).catch(fail);
    });
  }

  /** Marks the runner cancelled (so any waiter reports a cancel, not a loss), then deletes its pod. */
  async cancel(runnerId: string): Promise<void> {
    const ns = this.#settings.namespace;
    await this.#call(
      () => this.#api.annotateSecret(ns, secretName(runnerId), { [KUBE_ANNOTATIONS.cancelled]: 'true' }),
      runnerId,
    );
    await this.#call(() => this.#api.deletePod(ns, podName(runnerId)), runnerId);
  }

  /** Deletes the pod and the Secret; either missing is fine. */
  async destroy(runnerId: string): Promise<void> {
    const ns = this.#settings.namespace;
    const pod = await this.#call(() => this.#api.readPod(ns, podName(runnerId)), runnerId);
    if (pod !== undefined) await this.#endLog(pod);
    await this.#call(() => this.#api.deletePod(ns, podName(runnerId)), runnerId);
    await this.#call(() => this.#api.deleteSecret(ns, secretName(runnerId)), runnerId);
  }

  /**
   * Ends the log of a runner removed before its log was complete (its wait was cancelled, or its
   * worker died for good), with one system line after the checkpoint's last seq, so that readers
   * following the log see its end, as with the local runner.
   */
  async #endLog(pod: V1Pod): Promise<void> {
    const target = logTargetOf(pod);
    const checkpoint = parseCheckpoint(pod.metadata?.annotations?.[KUBE_ANNOTATIONS.logCheckpoint]);
    if (target === undefined || checkpoint.ended) return;
    const sink = this.#logSinks(target);
    const text = '✖ stopped: the runner was removed before it ended';
    await sink.write([{ ...target, seq: checkpoint.seq + 1, ts: Date.now(), stream: 'system', text }]);
    await sink.close();
  }

  /** Starts streaming the pod's logs to the sink, from the pod's checkpoint. */
  #startPump(pod: V1Pod, secretValues: string[]): LogPump | undefined {
    const annotations = pod.metadata?.annotations ?? {};
    const target = logTargetOf(pod);
    if (target === undefined) return undefined;
    const ns = this.#settings.namespace;
    const name = pod.metadata?.name ?? '';
    const steps = stepNamesOf(pod);
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) =>
      c.name === CHECKOUT_CONTAINER
        ? { name: c.name, label: 'checkout', kind: 'checkout' as const }
        : { name: c.name, label: steps.get(c.name) ?? c.name, kind: 'step' as const },
    );
    return new LogPump({
      source: { open: (container, options) => this.#api.openLog(ns, name, container, options) },
      sink: withMasking(this.#logSinks(target), createMasker(secretValues)),
      target,
      containers,
      checkpoint: parseCheckpoint(annotations[KUBE_ANNOTATIONS.logCheckpoint]),
      save: async (checkpoint) => {
        await this.#api.annotatePod(ns, name, {
          [KUBE_ANNOTATIONS.logCheckpoint]: JSON.stringify(checkpoint),
        });
      },
    });
  }

  /** Why a runner's pod went away: cancelled by Kiln, or lost. */
  async #whyGone(runnerId: string, what: string): Promise<never> {
    const secret = await this.#call(
      () => this.#api.readSecret(this.#settings.namespace, secretName(runnerId)),
      runnerId,
    );
    if (secret?.metadata?.annotations?.[KUBE_ANNOTATIONS.cancelled] === 'true') {
      throw new KilnError(FailureCodes.CANCELLED, `runner ${runnerId} was cancelled`);
    }
    throw new InfrastructureError(FailureCodes.RUNNER_LOST, `runner ${runnerId} is lost: ${what}`);
  }

  /** Creates one object of a runner: true if created, false if it existed already (409). */
  async #create(kind: string, create: () => Promise<unknown>, runnerId: string): Promise<boolean> {
    try {
      await create();
      return true;
    } catch (err) {
      const status = statusOf(err);
      if (status === 409) return false; // the same runner, created by an earlier call
      // Refused as invalid or forbidden: asking again cannot help, the attempt failed to start.
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        throw new InfrastructureError(
          FailureCodes.RUNNER_START_FAILED,
          `cannot create the ${kind} of runner ${runnerId}: ${messageOf(err)}`,
          { cause: err },
        );
      }
      throw apiFailure(runnerId, err);
    }
  }

  /**
   * An API call. A failure stays a plain (retryable) error: the activity is retried and reattaches,
   * rather than counting an unreachable API server as the job's runner failing.
   */
  async #call<T>(call: () => Promise<T>, runnerId: string): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw apiFailure(runnerId, err);
    }
  }
}

function apiFailure(runnerId: string, err: unknown): Error {
  return new Error(`runner ${runnerId}: Kubernetes API call failed: ${messageOf(err)}`, { cause: err });
}

/** Which attempt's log the pod writes (from its annotations; labels may be shortened). */
function logTargetOf(pod: V1Pod): LogTarget | undefined {
  const annotations = pod.metadata?.annotations ?? {};
  const attempt = Number(pod.metadata?.labels?.[KUBE_LABELS.attempt]);
  const buildId = annotations[KUBE_ANNOTATIONS.buildId];
  const jobKey = annotations[KUBE_ANNOTATIONS.jobKey];
  if (buildId === undefined || jobKey === undefined || !Number.isInteger(attempt)) return undefined;
  return { buildId, jobKey, attempt };
}

function createdAt(object: V1Secret | undefined): number | undefined {
  const value = object?.metadata?.creationTimestamp;
  return value === undefined ? undefined : new Date(value).getTime();
}
