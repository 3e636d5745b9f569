import { randomBytes } from 'node:crypto';
import type { ProjectionStore, ProjectRecord } from '../adapters/projections/port.ts';
import type { Project } from '../adapters/projects/port.ts';
import { webhookSecretRef, type SecretStore } from '../adapters/secrets/port.ts';

/** What the API returns for a project: never the webhook secret. */
export type ProjectView = Omit<ProjectRecord, 'webhookSecretRef'>;

export function projectView(project: ProjectRecord): ProjectView {
  const { webhookSecretRef: _secret, ...view } = project;
  return view;
}

/**
 * Projects: the registry lives in the build history database; the webhook secret lives in the
 * secret store and the project row keeps only its reference.
 */
export class ProjectService {
  readonly #store: ProjectionStore;
  readonly #secrets: SecretStore;

  constructor(options: { store: ProjectionStore; secrets: SecretStore }) {
    this.#store = options.store;
    this.#secrets = options.secrets;
  }

  /** Registers a repository; the secret is stored first so a project never exists without it. */
  async create(input: {
    repo: string;
    cloneUrl: string;
    webhookSecret: string;
    pipelinePath?: string;
    tenant?: string;
    weight?: number;
  }): Promise<ProjectRecord> {
    const ref = webhookSecretRef(input.repo);
    await this.#secrets.put(ref, input.webhookSecret);
    const id = await this.#store.createProject({
      repo: input.repo,
      cloneUrl: input.cloneUrl,
      webhookSecretRef: ref,
      pipelinePath: input.pipelinePath,
      tenant: input.tenant,
      weight: input.weight,
    });
    return (await this.#store.getProject(id))!;
  }

  findByRepo(repo: string): Promise<ProjectRecord | undefined> {
    return this.#store.findProjectByRepo(repo);
  }

  get(id: string): Promise<ProjectRecord | undefined> {
    return this.#store.getProject(id);
  }

  list(): Promise<ProjectRecord[]> {
    return this.#store.listProjects();
  }

  /** The secret GitHub signs this project's webhooks with, or undefined when none is stored. */
  webhookSecret(project: ProjectRecord): Promise<string | undefined> {
    return this.#secrets.get(project.webhookSecretRef);
  }

  /**
   * The project an ad-hoc build of a clone URL is recorded under (`local/<name>` unless named),
   * registered on first use with a random webhook secret nobody knows (it takes no webhooks).
   */
  async ensureAdHoc(
    repo: string,
    cloneUrl: string,
    pipelinePath: string | undefined,
  ): Promise<ProjectRecord> {
    const existing = await this.findByRepo(repo);
    if (existing) return existing;
    try {
      return await this.create({
        repo,
        cloneUrl,
        pipelinePath,
        webhookSecret: randomBytes(24).toString('hex'),
      });
    } catch (err) {
      // Two first builds at once: the other one registered it.
      const raced = await this.findByRepo(repo);
      if (raced) return raced;
      throw err;
    }
  }

  /**
   * Imports the projects of a projects file (the configuration of earlier versions): missing ones
   * are registered; the secret of every listed one is (re)stored, so editing the file still
   * rotates a secret. Returns the repos registered now.
   */
  async importFrom(projects: Project[]): Promise<string[]> {
    const added: string[] = [];
    for (const p of projects) {
      const existing = await this.findByRepo(p.repo);
      if (existing) {
        await this.#secrets.put(existing.webhookSecretRef, p.webhookSecret);
        continue;
      }
      await this.create({
        repo: p.repo,
        cloneUrl: p.cloneUrl,
        webhookSecret: p.webhookSecret,
        pipelinePath: p.pipelinePath,
      });
      added.push(p.repo);
    }
    return added;
  }
}
