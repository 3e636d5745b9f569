import { randomBytes } from 'node:crypto';
import { InvalidInputError, KilnError } from '../../shared/errors.ts';
import {
  checkCredentialRequest,
  checkProjectId,
  checkRef,
  checkSecretName,
  checkSecretNames,
  settleReads,
  type ReadOutcome,
} from './errors.ts';
import type { JobCredential, JobCredentialRequest, ProjectSecretInfo, SecretStoreAdapter } from './port.ts';
import { VaultHttp, vaultErrors, type VaultHttpOptions, type VaultResponse } from './vault-http.ts';
import { JOB_POLICY_PREFIX, jobPolicy, vaultLayout, type VaultLayout } from './vault-setup.ts';

/** Where Vault is, Kiln's token (optional on the runner side) and where Kiln keeps things. */
export interface VaultSecretStoreOptions extends Partial<VaultLayout>, VaultHttpOptions {}

/** Expired job policies are kept this long after their token died, then pruned. */
const PRUNE_AFTER_MS = 60_000;
/** At most this many requests at once when listing or pruning. */
const CONCURRENCY = 8;
/** `kiln-job-<expiry, epoch seconds>-<random>:<Vault token accessor>` */
const ACCESSOR = /^(kiln-job-\d+-[0-9a-f]{16}):([A-Za-z0-9.]+)$/;
const JOB_POLICY = /^kiln-job-(\d+)-[0-9a-f]{16}$/;

/**
 * The production secrets adapter, on Vault KV v2. Layout inside the mount (default `secret/`):
 * project secrets at `kiln/projects/<projectId>/<NAME>`, references of `SecretStore` at
 * `kiln/refs/<ref>`, each one KV entry `{ value }`.
 *
 * A job credential is a child token of Kiln's token, created under the token role (default
 * `kiln-job`) with a policy made for it alone (`sys/policies/acl/kiln-job-<expiry>-<random>`)
 * granting `read` on exactly the declared paths of that project. The token is not renewable,
 * its TTL and explicit max TTL are the requested TTL, and `num_uses` carries the read budget.
 * A child rather than an orphan: if Kiln's token is revoked, every job credential dies with it.
 * Revocation revokes the token by accessor and deletes its policy; a policy whose token expired
 * unrevoked is deleted by `pruneExpiredCredentials` (its name carries the expiry).
 *
 * Neither values nor tokens are logged or put into errors (see `VaultHttp`).
 */
export class VaultSecretStore implements SecretStoreAdapter {
  readonly #http: VaultHttp;
  readonly #layout: VaultLayout;

  constructor(options: VaultSecretStoreOptions) {
    this.#http = new VaultHttp(options);
    this.#layout = vaultLayout(options);
  }

  async put(ref: string, value: string): Promise<void> {
    await this.#http.call('put', 'write', this.#data(`refs/${checkRef(ref)}`), [200, 204], {
      body: { data: { value } },
    });
  }

  async get(ref: string): Promise<string | undefined> {
    const res = await this.#http.call('get', 'read', this.#data(`refs/${checkRef(ref)}`), [200, 404]);
    return res.status === 404 ? undefined : storedValue(res, `secret "${ref}"`);
  }

  async delete(ref: string): Promise<void> {
    await this.#http.call('delete', 'delete', this.#metadata(`refs/${checkRef(ref)}`), [200, 204, 404]);
  }

  async putProjectSecret(projectId: string, name: string, value: string): Promise<ProjectSecretInfo> {
    const path = this.#data(projectPath(projectId, name));
    const res = await this.#http.call('putProjectSecret', 'write', path, [200, 204], {
      body: { data: { value } },
    });
    const created = res.body?.data?.created_time;
    return { name, updatedAt: typeof created === 'string' ? isoTime(created) : new Date().toISOString() };
  }

  async deleteProjectSecret(projectId: string, name: string): Promise<void> {
    const path = this.#metadata(projectPath(projectId, name));
    await this.#http.call('deleteProjectSecret', 'delete', path, [200, 204, 404]);
  }

  async listProjectSecrets(projectId: string): Promise<ProjectSecretInfo[]> {
    const folder = `projects/${checkProjectId(projectId)}`;
    const listed = await this.#http.call('listProjectSecrets', 'list', this.#metadata(folder), [200, 404]);
    const keys = (listed.body?.data?.keys as string[] | undefined) ?? [];
    const names = keys.filter((k) => !k.endsWith('/')).sort();
    const infos = await mapLimited(names, CONCURRENCY, async (name) => {
      const path = this.#metadata(`${folder}/${name}`);
      const res = await this.#http.call('listProjectSecrets', 'read', path, [200, 404]);
      if (res.status === 404) return undefined; // deleted meanwhile
      const updated = res.body?.data?.updated_time;
      return { name, updatedAt: typeof updated === 'string' ? isoTime(updated) : '' };
    });
    return infos.filter((info) => info !== undefined);
  }

  async issueJobCredential(request: JobCredentialRequest): Promise<JobCredential> {
    const { projectId, names, ttlSeconds, reads } = checkCredentialRequest(request);
    const started = Date.now();
    const expiry = Math.ceil(started / 1000) + ttlSeconds;
    const policy = `${JOB_POLICY_PREFIX}${expiry}-${randomBytes(8).toString('hex')}`;
    const paths = names.map((name) => this.#data(projectPath(projectId, name)));
    const rules = jobPolicy(projectId, new Date(expiry * 1000).toISOString(), paths);
    const policyPath = `sys/policies/acl/${policy}`;
    await this.#http.call('issueJobCredential', 'write', policyPath, [200, 204], { body: { policy: rules } });
    try {
      const res = await this.#http.call(
        'issueJobCredential',
        'write',
        `auth/token/create/${this.#layout.tokenRole}`,
        [200],
        {
          body: {
            policies: [policy],
            ttl: `${ttlSeconds}s`,
            explicit_max_ttl: `${ttlSeconds}s`,
            num_uses: reads ?? 0,
            renewable: false,
            no_default_policy: true,
            display_name: 'kiln-job',
            meta: { project: projectId },
          },
        },
      );
      const auth = res.body?.auth ?? {};
      const leaseSeconds = typeof auth.lease_duration === 'number' ? auth.lease_duration : ttlSeconds;
      return {
        token: String(auth.client_token),
        accessor: `${policy}:${String(auth.accessor)}`,
        expiresAt: new Date(started + leaseSeconds * 1000).toISOString(),
      };
    } catch (err) {
      // Without its policy a token that was created after all (lost answer) can read nothing.
      await this.#http
        .call('issueJobCredential', 'delete', policyPath, [200, 204, 404])
        .catch(() => undefined);
      throw err;
    }
  }

  async resolveWithCredential(
    credential: Pick<JobCredential, 'token'>,
    projectId: string,
    names: string[],
  ): Promise<Record<string, string>> {
    checkProjectId(projectId);
    const wanted = checkSecretNames(names);
    const { token } = credential;
    // An empty token would make the client send Kiln's own token instead.
    const usable = typeof token === 'string' && token !== '';
    const outcomes = await Promise.all(
      wanted.map(async (name): Promise<ReadOutcome> => {
        if (!usable) return { name, denied: true };
        try {
          const path = this.#data(projectPath(projectId, name));
          const res = await this.#http.call('resolveWithCredential', 'read', path, [200, 403, 404], {
            token,
          });
          if (res.status === 403) return { name, denied: true };
          if (res.status === 404) return { name, missing: true };
          return { name, value: storedValue(res, `secret "${name}"`) };
        } catch (error) {
          return { name, error };
        }
      }),
    );
    return settleReads(projectId, outcomes);
  }

  async revokeJobCredential(accessor: string): Promise<void> {
    const match = ACCESSOR.exec(accessor);
    if (!match) throw new InvalidInputError('accessor', 'not an accessor of a Kiln job credential');
    const [, policy, tokenAccessor] = match;
    const revoke = { body: { accessor: tokenAccessor } };
    const revokePath = 'auth/token/revoke-accessor';
    const revoked = await this.#http.call(
      'revokeJobCredential',
      'write',
      revokePath,
      [200, 204, 400],
      revoke,
    );
    // An unknown accessor (expired or already revoked) answers 200 with a warning; some versions say 400.
    if (revoked.status === 400 && !/accessor/i.test(vaultErrors(revoked.body))) {
      this.#http.fail('revokeJobCredential', revoked);
    }
    await this.#http.call('revokeJobCredential', 'delete', `sys/policies/acl/${policy}`, [200, 204, 404]);
  }

  async pruneExpiredCredentials(): Promise<number> {
    const listed = await this.#http.call('pruneExpiredCredentials', 'list', 'sys/policies/acl', [200]);
    const cutoff = (Date.now() - PRUNE_AFTER_MS) / 1000;
    const expired = ((listed.body?.data?.keys as string[] | undefined) ?? []).filter((name) => {
      const match = JOB_POLICY.exec(name);
      return match !== null && Number(match[1]) < cutoff;
    });
    await mapLimited(expired, CONCURRENCY, (policy) =>
      this.#http.call('pruneExpiredCredentials', 'delete', `sys/policies/acl/${policy}`, [200, 204, 404]),
    );
    return expired.length;
  }

  #data(path: string): string {
    return `${this.#layout.mount}/data/${this.#layout.prefix}/${path}`;
  }

  #metadata(path: string): string {
    return `${this.#layout.mount}/metadata/${this.#layout.prefix}/${path}`;
  }
}

function projectPath(projectId: string, name: string): string {
  return `projects/${checkProjectId(projectId)}/${checkSecretName(name)}`;
}

/** The `value` field of a KV v2 read. */
function storedValue(res: VaultResponse, what: string): string {
  const value = (res.body?.data?.data as Record<string, unknown> | undefined)?.value;
  if (typeof value !== 'string')
    throw new KilnError('SECRET_UNREADABLE', `${what} has no string "value" field`);
  return value;
}

/** Vault's nanosecond timestamps, as ISO-8601 with milliseconds. */
function isoTime(vaultTime: string): string {
  const ms = Date.parse(vaultTime);
  return Number.isNaN(ms) ? vaultTime : new Date(ms).toISOString();
}

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
