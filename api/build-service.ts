import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ProjectionStore } from '../adapters/projections/port.ts';
import type { BuildState } from '../shared/build-state.ts';
import { NotFoundError } from '../shared/errors.ts';
import { isValidBuildId } from '../shared/ids.ts';
import { KilnBranch, KilnCommit, KilnEvent, KilnRepo, KilnStatus } from '../shared/search-attributes.ts';
import {
  buildStateQuery,
  cancelBuildSignal,
  type BuildInput,
  type BuildSettings,
} from '../shared/workflow-api.ts';
import type { buildWorkflow } from '../workflows/build.ts';

/** A build to start, as the webhook or a person asks for it. */
export type BuildRequest = Omit<BuildInput, 'buildId' | 'createdAt' | 'settings'>;

/**
 * Builds as the API sees them: started and cancelled through Temporal; read from the workflow
 * while it exists (strongly consistent), from the build history once it is gone.
 */
export class BuildService {
  readonly #client: Client;
  readonly #taskQueue: string;
  readonly #settings: BuildSettings;
  readonly #store: ProjectionStore;

  constructor(options: {
    client: Client;
    taskQueue: string;
    settings: BuildSettings;
    store: ProjectionStore;
  }) {
    this.#client = options.client;
    this.#taskQueue = options.taskQueue;
    this.#settings = options.settings;
    this.#store = options.store;
  }

  /** A fresh id for a manual build. */
  static newBuildId(): string {
    return `b-${randomUUID()}`;
  }

  /**
   * Starts the build workflow under `buildId`. When a workflow with that id already exists (a
   * webhook redelivery) nothing new starts and `duplicate` is true.
   */
  async start(
    buildId: string,
    request: BuildRequest,
  ): Promise<{ buildId: string; number: number; duplicate: boolean }> {
    const input: BuildInput = {
      ...request,
      buildId,
      createdAt: new Date().toISOString(),
      settings: this.#settings,
    };
    // The history row exists before the workflow, so the build has its number at once and a
    // redelivery long after Temporal's retention still finds it. Version 0: every workflow write wins.
    const { number } = await this.#store.upsertBuild({
      id: buildId,
      projectId: request.projectId,
      commitSha: request.sha,
      ref: request.ref,
      branch: request.branch,
      tag: request.tag,
      event: request.event,
      actor: request.actor,
      status: 'queued',
      version: 0,
      createdAt: input.createdAt,
      workflowId: buildId,
      problems: [],
    });
    try {
      await this.#client.workflow.start<typeof buildWorkflow>('buildWorkflow', {
        workflowId: buildId,
        taskQueue: this.#taskQueue,
        args: [{ ...input, number }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: KilnRepo, value: request.repo },
          { key: KilnEvent, value: request.event },
          { key: KilnStatus, value: 'queued' },
          ...(request.branch ? [{ key: KilnBranch, value: request.branch }] : []),
          ...(request.sha ? [{ key: KilnCommit, value: request.sha }] : []),
        ],
      });
      return { buildId, number, duplicate: false };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { buildId, number, duplicate: true };
      throw err;
    }
  }

  /**
   * Starts the build of a webhook delivery once. The delivery is recorded first; a redelivery
   * finds the first build. If the first attempt stopped between recording and starting (the
   * workflow engine was down), the redelivery finishes the start — idempotent by workflow id.
   */
  async startForDelivery(
    delivery: { id: string; event: string },
    buildId: string,
    request: BuildRequest,
  ): Promise<{ buildId: string; number?: number; duplicate: boolean }> {
    const recorded = await this.#store.recordDelivery({
      deliveryId: delivery.id,
      event: delivery.event,
      buildId,
    });
    if (!recorded.recorded) {
      const existing = await this.#store.getBuild(recorded.buildId);
      if (existing && existing.version > 0)
        return { buildId: existing.id, number: existing.number, duplicate: true };
      const started = await this.start(recorded.buildId, request);
      return { ...started, duplicate: true };
    }
    return this.start(buildId, request);
  }

  /**
   * The live state of a build: the workflow query while it runs, its result once it completed.
   * Unknown ids → NotFoundError.
   */
  async get(buildId: string): Promise<BuildState> {
    const handle = this.#client.workflow.getHandle<typeof buildWorkflow>(this.#checkedId(buildId));
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (err) {
      // Past Temporal's retention (or while it is unreachable) the history answers.
      const fromHistory = await this.#fromHistory(buildId);
      if (fromHistory) return fromHistory;
      if (err instanceof WorkflowNotFoundError) throw notFound(buildId);
      throw err;
    }
    if (status === 'COMPLETED') return handle.result();
    if (status === 'RUNNING') return handle.query(buildStateQuery);
    // Cancelled, terminated or timed out from the outside: the last projected state.
    return (await this.#fromHistory(buildId)) ?? handle.query(buildStateQuery);
  }

  async #fromHistory(buildId: string): Promise<BuildState | undefined> {
    const build = await this.#store.getBuild(buildId).catch(() => undefined);
    if (!build) return undefined;
    const [jobs, project] = await Promise.all([
      this.#store.listJobs(buildId),
      this.#store.getProject(build.projectId),
    ]);
    return {
      id: build.id,
      workflowId: build.workflowId,
      number: build.number,
      repo: project?.repo ?? '',
      ref: build.ref,
      branch: build.branch,
      tag: build.tag,
      commitSha: build.commitSha,
      event: build.event,
      actor: build.actor,
      pipelinePath: project?.pipelinePath ?? '.ci.yaml',
      status: build.status,
      createdAt: build.createdAt,
      startedAt: build.startedAt,
      finishedAt: build.finishedAt,
      problems: build.problems,
      message: build.message,
      jobs: jobs.map(({ buildId: _b, version: _v, logLocation: _l, ...job }) => ({
        ...job,
        failureCode: job.failureCode as BuildState['jobs'][number]['failureCode'],
      })),
    };
  }

  /** Asks a running build to cancel; a finished build is left as it is. */
  async cancel(buildId: string, reason: string): Promise<BuildState> {
    const handle = this.#client.workflow.getHandle(this.#checkedId(buildId));
    try {
      await handle.signal(cancelBuildSignal, { reason });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // Either unknown, or already closed: `get` tells which.
        return this.get(buildId);
      }
      throw err;
    }
    return this.get(buildId);
  }

  #checkedId(buildId: string): string {
    if (!isValidBuildId(buildId)) throw notFound(buildId);
    return buildId;
  }
}

function notFound(buildId: string): NotFoundError {
  return new NotFoundError('build', `build "${buildId}" not found`);
}
