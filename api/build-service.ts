import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
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

/** Builds as the API sees them: started, read and cancelled through Temporal. */
export class BuildService {
  readonly #client: Client;
  readonly #taskQueue: string;
  readonly #settings: BuildSettings;

  constructor(options: { client: Client; taskQueue: string; settings: BuildSettings }) {
    this.#client = options.client;
    this.#taskQueue = options.taskQueue;
    this.#settings = options.settings;
  }

  /** A fresh id for a manual build. */
  static newBuildId(): string {
    return `b-${randomUUID()}`;
  }

  /**
   * Starts the build workflow under `buildId`. When a workflow with that id already exists (a
   * webhook redelivery) nothing new starts and `duplicate` is true.
   */
  async start(buildId: string, request: BuildRequest): Promise<{ buildId: string; duplicate: boolean }> {
    const input: BuildInput = {
      ...request,
      buildId,
      createdAt: new Date().toISOString(),
      settings: this.#settings,
    };
    try {
      await this.#client.workflow.start<typeof buildWorkflow>('buildWorkflow', {
        workflowId: buildId,
        taskQueue: this.#taskQueue,
        args: [input],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: [
          { key: KilnRepo, value: request.repo },
          { key: KilnEvent, value: request.event },
          { key: KilnStatus, value: 'queued' },
          ...(request.branch ? [{ key: KilnBranch, value: request.branch }] : []),
          ...(request.sha ? [{ key: KilnCommit, value: request.sha }] : []),
        ],
      });
      return { buildId, duplicate: false };
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return { buildId, duplicate: true };
      throw err;
    }
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
      if (err instanceof WorkflowNotFoundError) throw notFound(buildId);
      throw err;
    }
    if (status === 'COMPLETED') return handle.result();
    return handle.query(buildStateQuery);
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
