/**
 * Where secret values live (project webhook secrets now; job secrets later). Callers keep only a
 * reference (`projects/acme/web/webhook`); values never enter workflow inputs, logs or the API.
 *
 * Lifecycle: create, use from any number of concurrent callers. Guarantees: `put` replaces the
 * value atomically (a reader sees the old or the new value, never a mix); `get` of an unknown
 * reference returns `undefined`; `delete` of an unknown reference is a no-op.
 */
export interface SecretStore {
  put(ref: string, value: string): Promise<void>;
  get(ref: string): Promise<string | undefined>;
  delete(ref: string): Promise<void>;
}

/** The reference under which a project's webhook secret is kept. */
export function webhookSecretRef(repo: string): string {
  return `projects/${repo.toLowerCase()}/webhook`;
}
