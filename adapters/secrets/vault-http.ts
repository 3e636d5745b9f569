import createVaultClient from 'node-vault';
import { SecretStoreUnavailableError } from './errors.ts';

/** One answer of the Vault HTTP API. */
export interface VaultResponse {
  status: number;
  body: { data?: Record<string, unknown>; auth?: Record<string, unknown>; errors?: string[] } | undefined;
}

export interface VaultHttpOptions {
  /** Vault (or OpenBao) address, e.g. `https://vault.internal:8200`. */
  address: string;
  /**
   * Kiln's own token, holding the policy of `orchestratorPolicy()` (see `configureVault`). Job
   * credentials are its children: revoking it revokes every live job credential. Never logged.
   * Without it only `resolveWithCredential` works: that is all the runner side needs.
   */
  token?: string;
  /** Vault Enterprise / OpenBao namespace. */
  namespace?: string;
  /**
   * Per-request timeout in milliseconds.
   * @default 5000
   */
  timeoutMs?: number;
}

/**
 * node-vault as a plain transport: every HTTP status comes back as a value, and the only errors
 * are `SecretStoreUnavailableError`s built from scratch, because the client's own errors carry
 * the request, token header included. Its debug output (request bodies) is silenced.
 */
export class VaultHttp {
  readonly address: string;
  readonly #client: ReturnType<typeof createVaultClient>;

  constructor(options: VaultHttpOptions) {
    this.address = options.address.replace(/\/$/, '');
    this.#client = createVaultClient({
      endpoint: this.address,
      debug: () => {},
      requestOptions: { timeout: options.timeoutMs ?? 5000 },
    });
    // Set after creation: given as options, empty values fall back to VAULT_* environment variables.
    Object.assign(this.#client, {
      token: options.token ?? '',
      namespace: options.namespace ?? '',
      pathPrefix: '',
    });
  }

  /**
   * One call; a status outside `ok` is an infrastructure failure in Vault's own words (a 403 there
   * means Kiln's own token was refused). An empty `token` would fall back to Kiln's: callers
   * reading with a job token must check it first.
   */
  async call(
    operation: string,
    method: 'read' | 'write' | 'list' | 'delete',
    path: string,
    ok: readonly number[],
    options: { body?: unknown; token?: string } = {},
  ): Promise<VaultResponse> {
    const res = await this.#send(operation, method, path, options);
    if (ok.includes(res.status)) return res;
    return this.fail(operation, res);
  }

  /** Throws the infrastructure failure for an unexpected answer. */
  fail(operation: string, res: VaultResponse): never {
    const said = vaultErrors(res.body);
    const detail =
      res.status === 403
        ? "denied Kiln's own token (expired, revoked, or without the kiln-orchestrator policy)"
        : `answered ${res.status}${said ? `: ${said}` : ''}`;
    throw new SecretStoreUnavailableError(operation, `Vault at ${this.address} ${detail}`);
  }

  async #send(
    operation: string,
    method: 'read' | 'write' | 'list' | 'delete',
    path: string,
    options: { body?: unknown; token?: string },
  ): Promise<VaultResponse> {
    const request = options.token === undefined ? undefined : { headers: { 'X-Vault-Token': options.token } };
    try {
      const answer: unknown =
        method === 'write'
          ? await this.#client.write(path, options.body, request)
          : await this.#client[method](path, request);
      return { status: 200, body: answer as VaultResponse['body'] };
    } catch (err) {
      const response = (err as { response?: { statusCode?: unknown; body?: unknown } }).response;
      if (response && typeof response.statusCode === 'number') {
        return { status: response.statusCode, body: response.body as VaultResponse['body'] };
      }
      const { message, code } = err as { message?: string; code?: string };
      throw new SecretStoreUnavailableError(
        operation,
        `cannot reach Vault at ${this.address}: ${message || code}`,
      );
    }
  }
}

/** Vault's `errors` array without the "1 error occurred:" wrapping. */
export function vaultErrors(body: VaultResponse['body']): string {
  return (body?.errors ?? [])
    .map((e) =>
      e
        .replace(/^\d+ errors? occurred:\s*/, '')
        .replace(/^\*\s*/gm, '')
        .trim(),
    )
    .filter(Boolean)
    .join('; ');
}
