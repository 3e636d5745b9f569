import type {
  V1Container,
  V1EnvVar,
  V1Pod,
  V1Secret,
  V1SecurityContext,
  V1Toleration,
} from '@kubernetes/client-node';
import { InvalidInputError } from '../../../shared/errors.ts';
import { jobWorkflowId } from '../../../shared/ids.ts';
import { kilnStepVariables } from '../kiln-env.ts';
import type { RunnerSpec } from '../port.ts';
import { labelValue, podName, secretName } from './names.ts';

/**
 * The pure part of the Kubernetes backend: what a runner's pod and Secret look like. No API call
 * here, so the shapes are pinned by golden files (test/fixtures/pods/).
 *
 * Pod shape: an init container `checkout` clones the commit into an `emptyDir` mounted at
 * `/workspace`; each step but the last is an init container `step-<n>` (init containers run one
 * after the other and stop the pod at the first non-zero exit), the last step is the only main
 * container. A failed step is thus named by its container, and each step has its own log.
 *
 * Secrets: values never appear in the pod. They live in a per-runner Secret (`kiln-env-…`) that
 * the steps reference by key (`secretKeyRef`); the backend creates it before the pod and deletes
 * it with the pod (cancel, destroy, reaper).
 */

/** CPU and memory of one resource class; requests equal limits (Guaranteed QoS). */
export interface ResourceLimits {
  cpu: string;
  memory: string;
}

/** Cluster-side settings of runner pods. */
export interface PodSettings {
  /** @default kiln-runners */
  namespace: string;
  /** RuntimeClass of every runner pod; empty leaves the cluster default. @default gvisor */
  runtimeClassName: string;
  /** Image of jobs that name none. */
  defaultImage: string;
  /** Image with git and a POSIX shell, for the checkout init container. */
  checkoutImage: string;
  /** Resource classes by name (`resources:` of a job); `small` when a job names none. */
  resourceClasses: Record<string, ResourceLimits>;
  /** Labels added to every pod (node pool selection, or a test cluster's fake outcomes). */
  extraLabels?: Record<string, string>;
  /** Tolerations of every pod (dedicated runner nodes). */
  tolerations?: V1Toleration[];
  /** Node selector of every pod (dedicated runner nodes). */
  nodeSelector?: Record<string, string>;
}

/** The defaults of {@link PodSettings}. */
export const DEFAULT_POD_SETTINGS: PodSettings = {
  namespace: 'kiln-runners',
  runtimeClassName: 'gvisor',
  defaultImage: 'node:24-bookworm-slim',
  checkoutImage: 'alpine/git:2.49.1',
  resourceClasses: {
    small: { cpu: '1', memory: '2Gi' },
    medium: { cpu: '2', memory: '4Gi' },
    large: { cpu: '4', memory: '8Gi' },
  },
};

/** Labels and annotations Kiln puts on its runner pods and Secrets. */
export const KUBE_LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  project: 'kiln.dev/project',
  build: 'kiln.dev/build',
  job: 'kiln.dev/job',
  attempt: 'kiln.dev/attempt',
} as const;
export const KUBE_ANNOTATIONS = {
  workflowId: 'kiln.dev/workflow-id',
  runnerId: 'kiln.dev/runner-id',
  /** Exact build id and job key (labels may be shortened): where the backend writes the log. */
  buildId: 'kiln.dev/build-id',
  jobKey: 'kiln.dev/job-key',
  /** When the job's timeout ends (ISO 8601): the reaper deletes pods some margin past it. */
  deadline: 'kiln.dev/deadline',
  /** JSON array of the step names, by container order (`step-1` is the first). */
  steps: 'kiln.dev/steps',
  /** Set on the Secret by `cancel`, so any waiter can tell a cancel from a loss. */
  cancelled: 'kiln.dev/cancelled',
  /** Where each container's log was read up to (see `log-checkpoint.ts`). */
  logCheckpoint: 'kiln.dev/log-checkpoint',
} as const;
export const MANAGED_BY = 'kiln';

/** Name of the checkout init container. */
export const CHECKOUT_CONTAINER = 'checkout';
const WORKSPACE = '/workspace';
const RUN_AS = 1000;

/** Container name of step `index` (0-based). */
export function stepContainerName(index: number): string {
  return `step-${index + 1}`;
}

/** The runner's pod. `now` is when it is created (the deadline annotation counts from it). */
export function buildRunnerPod(spec: RunnerSpec, settings: PodSettings, now: Date): V1Pod {
  if (spec.steps.length === 0) throw new InvalidInputError('steps', `job ${spec.jobKey} has no step to run`);
  const resources = resourcesOf(spec, settings);
  const image = spec.image ?? settings.defaultImage;
  const secretKeys = Object.keys(spec.secretEnv ?? {}).sort();
  const stepContainers = spec.steps.map((step, index): V1Container => ({
    name: stepContainerName(index),
    image,
    command: ['sh', '-e', '-c', step.run],
    workingDir: WORKSPACE,
    env: stepEnv(spec, step.env, secretKeys),
    resources,
    securityContext: containerSecurity(),
    volumeMounts: [{ name: 'workspace', mountPath: WORKSPACE }],
  }));
  const checkout: V1Container = {
    name: CHECKOUT_CONTAINER,
    image: settings.checkoutImage,
    command: ['sh', '-e', '-c', CHECKOUT_SCRIPT],
    workingDir: WORKSPACE,
    env: [
      { name: 'HOME', value: '/tmp' },
      { name: 'KILN_CLONE_URL', value: spec.checkout.cloneUrl },
      { name: 'KILN_COMMIT_SHA', value: spec.checkout.sha },
      { name: 'KILN_REF', value: spec.checkout.ref },
    ],
    resources,
    securityContext: containerSecurity(),
    volumeMounts: [{ name: 'workspace', mountPath: WORKSPACE }],
  };
  const deadline = new Date(now.getTime() + spec.timeoutMs).toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: podName(spec.runnerId),
      namespace: settings.namespace,
      labels: { ...runnerLabels(spec), ...settings.extraLabels },
      annotations: {
        [KUBE_ANNOTATIONS.workflowId]: jobWorkflowId(spec.buildId, spec.jobKey),
        [KUBE_ANNOTATIONS.runnerId]: spec.runnerId,
        [KUBE_ANNOTATIONS.buildId]: spec.buildId,
        [KUBE_ANNOTATIONS.jobKey]: spec.jobKey,
        [KUBE_ANNOTATIONS.deadline]: deadline,
        [KUBE_ANNOTATIONS.steps]: JSON.stringify(spec.steps.map((s) => s.name)),
      },
    },
    spec: {
      ...(settings.runtimeClassName === '' ? {} : { runtimeClassName: settings.runtimeClassName }),
      restartPolicy: 'Never',
      activeDeadlineSeconds: Math.max(1, Math.ceil(spec.timeoutMs / 1000)),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 10,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RUN_AS,
        runAsGroup: RUN_AS,
        fsGroup: RUN_AS,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      initContainers: [checkout, ...stepContainers.slice(0, -1)],
      containers: stepContainers.slice(-1),
      volumes: [{ name: 'workspace', emptyDir: {} }],
      ...(settings.tolerations === undefined ? {} : { tolerations: settings.tolerations }),
      ...(settings.nodeSelector === undefined ? {} : { nodeSelector: settings.nodeSelector }),
    },
  };
}

/**
 * The runner's Secret: its secret values (possibly none) under their own names. It is created
 * before the pod, so it also records that the runner was started (see the backend's `wait`).
 */
export function buildRunnerSecret(spec: RunnerSpec, settings: PodSettings): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    immutable: true,
    metadata: {
      name: secretName(spec.runnerId),
      namespace: settings.namespace,
      labels: runnerLabels(spec),
      annotations: {
        [KUBE_ANNOTATIONS.workflowId]: jobWorkflowId(spec.buildId, spec.jobKey),
        [KUBE_ANNOTATIONS.runnerId]: spec.runnerId,
      },
    },
    stringData: { ...spec.secretEnv },
  };
}

/** Labels identifying a runner's objects (values sanitised to what Kubernetes accepts). */
export function runnerLabels(spec: RunnerSpec): Record<string, string> {
  return {
    [KUBE_LABELS.managedBy]: MANAGED_BY,
    [KUBE_LABELS.project]: labelValue(spec.projectId ?? 'none'),
    [KUBE_LABELS.build]: labelValue(spec.buildId),
    [KUBE_LABELS.job]: labelValue(spec.jobKey),
    [KUBE_LABELS.attempt]: String(spec.attempt),
  };
}

/**
 * Clones only what is needed: the commit itself when the server allows fetching by sha,
 * otherwise the ref, then checks the sha out (detached).
 */
const CHECKOUT_SCRIPT = [
  'git init -q .',
  'git remote add origin "$KILN_CLONE_URL"',
  'git fetch -q --depth 1 origin "$KILN_COMMIT_SHA" || git fetch -q origin "$KILN_REF"',
  'git checkout -q --detach "$KILN_COMMIT_SHA"',
].join('\n');

function resourcesOf(spec: RunnerSpec, settings: PodSettings) {
  const name = spec.resourceClass ?? 'small';
  const limits = settings.resourceClasses[name];
  if (limits === undefined) {
    const known = Object.keys(settings.resourceClasses).join(', ');
    throw new InvalidInputError('resourceClass', `unknown resource class "${name}" (known: ${known})`);
  }
  return { requests: { ...limits }, limits: { ...limits } };
}

/**
 * Job env, step env, then the declared secrets (by reference; they win over env entries of the
 * same name), then what Kiln sets itself, which a pipeline cannot override — as the local backend.
 */
function stepEnv(spec: RunnerSpec, env: Record<string, string>, secretKeys: string[]): V1EnvVar[] {
  const kiln = kilnStepVariables(spec, WORKSPACE);
  const plain: Record<string, string> = { HOME: '/tmp', ...spec.env, ...env };
  const vars: V1EnvVar[] = [];
  for (const [name, value] of Object.entries(plain)) {
    if (!secretKeys.includes(name) && !(name in kiln)) vars.push({ name, value });
  }
  const secret = secretName(spec.runnerId);
  for (const key of secretKeys) {
    if (!(key in kiln)) vars.push({ name: key, valueFrom: { secretKeyRef: { name: secret, key } } });
  }
  for (const [name, value] of Object.entries(kiln)) vars.push({ name, value });
  return vars;
}

function containerSecurity(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
