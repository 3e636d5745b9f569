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

/** What may be shown about a project secret: never its value. */
export interface ProjectSecretInfo {
  /** The name a job declares and sees as an environment variable (`DEPLOY_TOKEN`). */
  name: string;
  /** ISO-8601 time of the last `putProjectSecret`. */
  updatedAt: string;
}

/** What a job may read: exactly these secret names of one project, for a bounded time. */
export interface JobCredentialRequest {
  projectId: string;
  /** Declared secret names; duplicates are ignored. At least one. */
  names: string[];
  /**
   * Lifetime in milliseconds, rounded up to whole seconds (Vault's granularity). Use the job
   * timeout plus a margin; the credential dies at the end even if nobody revokes it.
   */
  ttlMs: number;
  /**
   * How many times the whole declared set may be resolved. The budget is counted in reads:
   * `uses × names.length`, one per name per resolution, and a denied read spends one too (Vault
   * counts every request). One resolution per runner attempt means `uses: 1`.
   * @default unlimited within the TTL
   */
  uses?: number;
}

/**
 * A just-in-time job credential. `token` is a secret: it reads the declared values, so it must
 * never enter workflow inputs, results, history or logs. `accessor` is not: it can only revoke
 * the credential, so it is what the job workflow keeps (in history) for its cleanup.
 */
export interface JobCredential {
  token: string;
  accessor: string;
  /** ISO-8601 time after which every read with `token` fails. */
  expiresAt: string;
}

/**
 * Project secrets and the just-in-time credentials jobs read them with.
 *
 * Values are write-only from the outside: they are put and deleted by name and listed without
 * values. Only a job credential reads them, and only the names it was issued for.
 *
 * Lifecycle of a credential, once per runner attempt:
 * 1. `issueJobCredential` (orchestrator side, with the store's own privileges);
 * 2. `resolveWithCredential` (runner side, with nothing but the token) — values go straight into
 *    the runner's environment and the log masker;
 * 3. `revokeJobCredential(accessor)` when the job ends, however it ends (also from the reaper
 *    after a crash). Until then the TTL and the `uses` budget bound the credential.
 * 4. `pruneExpiredCredentials` from housekeeping removes what expired credentials leave behind.
 *
 * Guarantees:
 * - A credential reads only the declared names of its own project: another project's secret or
 *   an undeclared name fails with `SECRET_ACCESS_DENIED`, whether or not it exists.
 * - After revocation, expiry or an exhausted budget every read fails with `SECRET_ACCESS_DENIED`.
 * - A declared name without a value fails with `SECRET_NOT_FOUND`, naming every missing name.
 * - A store that cannot be reached fails with `SECRET_STORE_UNAVAILABLE` (an infrastructure
 *   failure: retry). The other two codes are final.
 * - Revocation is idempotent: an expired or already revoked accessor is a no-op; a string that
 *   no adapter of this kind could have issued is `INVALID_INPUT`.
 * - Project ids and names are validated (`INVALID_INPUT`): names are environment variable names.
 * - Neither values nor tokens appear in error messages.
 */
export interface ProjectSecrets {
  /** Creates or replaces a value. */
  putProjectSecret(projectId: string, name: string, value: string): Promise<ProjectSecretInfo>;
  /** Removes a value with its history. Idempotent. */
  deleteProjectSecret(projectId: string, name: string): Promise<void>;
  /** Names and update times, sorted by name; never values. Empty for an unknown project. */
  listProjectSecrets(projectId: string): Promise<ProjectSecretInfo[]>;
  issueJobCredential(request: JobCredentialRequest): Promise<JobCredential>;
  /** Reads `names` (a subset of the declared ones) with nothing but the credential's token. */
  resolveWithCredential(
    credential: Pick<JobCredential, 'token'>,
    projectId: string,
    names: string[],
  ): Promise<Record<string, string>>;
  revokeJobCredential(accessor: string): Promise<void>;
  /** Removes bookkeeping of credentials that expired (at least a minute ago); returns how many. */
  pruneExpiredCredentials(): Promise<number>;
}

/** What every secrets adapter implements. */
export interface SecretStoreAdapter extends SecretStore, ProjectSecrets {}
