import type { ArtifactListing } from '../api/routes/artifacts.ts';
import type { BuildState } from '../shared/build-state.ts';

/** One row of a project's build history. */
export interface HistoryBuild {
  id: string;
  number: number;
  status: string;
  ref: string;
  branch?: string;
  tag?: string;
  commitSha?: string;
  event: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** Thrown for an API error; the message is the API's own. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** A small typed client of the Kiln API, used by the CLI, tests and benchmarks. */
export class KilnApiClient {
  readonly baseUrl: string;
  readonly #token: string;

  constructor(baseUrl: string, token: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token;
  }

  async startBuild(body: {
    project?: string;
    cloneUrl?: string;
    repo?: string;
    ref?: string;
    sha?: string;
    pipelinePath?: string;
  }): Promise<{ buildId: string }> {
    return this.#json('POST', '/builds', body);
  }

  async listProjects(): Promise<{
    projects: { id: string; repo: string; cloneUrl: string; pipelinePath: string }[];
  }> {
    return this.#json('GET', '/projects');
  }

  async listBuilds(
    projectId: string,
    query: { branch?: string; status?: string; limit?: number } = {},
  ): Promise<{ builds: HistoryBuild[]; nextCursor?: string }> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
    return this.#json('GET', `/projects/${encodeURIComponent(projectId)}/builds?${params}`);
  }

  async getBuild(id: string): Promise<BuildState> {
    return this.#json('GET', `/builds/${encodeURIComponent(id)}`);
  }

  async cancelBuild(id: string): Promise<BuildState> {
    return this.#json('POST', `/builds/${encodeURIComponent(id)}/cancel`);
  }

  async logs(id: string, job: string, attempt?: number): Promise<string> {
    const query = attempt ? `?attempt=${attempt}` : '';
    const res = await this.#fetch(
      'GET',
      `/builds/${encodeURIComponent(id)}/jobs/${encodeURIComponent(job)}/logs${query}`,
    );
    return res.text();
  }

  async listArtifacts(id: string): Promise<{ artifacts: ArtifactListing[] }> {
    return this.#json('GET', `/builds/${encodeURIComponent(id)}/artifacts`);
  }

  /** Fetches an artifact by the `url` of its listing; the body streams. */
  async download(url: string): Promise<Response> {
    return this.#fetch('GET', url);
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.#fetch(method, path, body);
    return (await res.json()) as T;
  }

  async #fetch(method: string, path: string, body?: unknown): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(
        0,
        'UNREACHABLE',
        `cannot reach the Kiln API at ${this.baseUrl}: ${(err as Error).message}`,
      );
    }
    if (!res.ok) {
      const payload = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw new ApiError(
        res.status,
        payload.error?.code ?? `HTTP_${res.status}`,
        payload.error?.message ?? res.statusText,
      );
    }
    return res;
  }
}
