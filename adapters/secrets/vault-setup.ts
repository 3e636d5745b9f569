import { VaultHttp, type VaultHttpOptions } from './vault-http.ts';

/** Where Kiln keeps things in Vault. */
export interface VaultLayout {
  /**
   * KV version 2 mount.
   * @default 'secret'
   */
  mount: string;
  /**
   * Folder of Kiln's entries inside the mount.
   * @default 'kiln'
   */
  prefix: string;
  /**
   * Token role job credentials are created under.
   * @default 'kiln-job'
   */
  tokenRole: string;
}

/** Name prefix of the per-credential policies; the token role allows exactly these. */
export const JOB_POLICY_PREFIX = 'kiln-job-';

/** Name of the policy Kiln's own token needs. */
export const ORCHESTRATOR_POLICY_NAME = 'kiln-orchestrator';

const SEGMENT = /^[A-Za-z0-9_-]+$/;

/** The layout with defaults applied; each part must be one plain path segment. */
export function vaultLayout(options: Partial<VaultLayout> = {}): VaultLayout {
  const layout = {
    mount: options.mount ?? 'secret',
    prefix: options.prefix ?? 'kiln',
    tokenRole: options.tokenRole ?? 'kiln-job',
  };
  for (const [key, value] of Object.entries(layout)) {
    if (!SEGMENT.test(value)) throw new Error(`Vault ${key} "${value}" must be letters, digits, _ and -`);
  }
  return layout;
}

/** The policy of one job credential: `read` on each path, nothing else. */
export function jobPolicy(projectId: string, expiresAt: string, paths: readonly string[]): string {
  const rules = paths.map((path) => `path "${path}" {\n  capabilities = ["read"]\n}`);
  return [`# Kiln job credential of project ${projectId}, expires ${expiresAt}`, ...rules].join('\n');
}

/**
 * What Kiln's own token may do: manage entries under its folder (values are written and deleted,
 * read back only for webhook verification), write and delete per-job policies, create job tokens
 * under the role, and revoke them by accessor.
 *
 * Trust note: a holder of this policy can write a `kiln-job-*` policy granting anything and
 * attach it to a child token, so Kiln's token must be guarded as well as a Vault admin's.
 */
export function orchestratorPolicy(options: Partial<VaultLayout> = {}): string {
  const { mount, prefix, tokenRole } = vaultLayout(options);
  const rule = (path: string, capabilities: string[]): string =>
    `path "${path}" {\n  capabilities = [${capabilities.map((c) => `"${c}"`).join(', ')}]\n}`;
  return [
    rule(`${mount}/data/${prefix}/*`, ['create', 'read', 'update', 'delete']),
    rule(`${mount}/metadata/${prefix}/*`, ['read', 'list', 'delete']),
    rule(`sys/policies/acl/${JOB_POLICY_PREFIX}*`, ['create', 'update', 'delete']),
    rule('sys/policies/acl', ['list']),
    rule(`auth/token/create/${tokenRole}`, ['update']),
    rule('auth/token/revoke-accessor', ['update']),
  ].join('\n');
}

/**
 * One-time setup with an administrator's token: writes the `kiln-orchestrator` policy and the
 * token role job credentials are created under. The role lets Kiln attach `kiln-job-*` policies
 * it does not hold itself; its tokens are service tokens, children of Kiln's token, not
 * renewable and without the default policy. Idempotent. Kiln's own token is then made by the
 * administrator, e.g. a periodic token with `policies: ["kiln-orchestrator"]`, renewed by Kiln.
 */
export async function configureVault(
  options: VaultHttpOptions & { token: string } & Partial<VaultLayout>,
): Promise<void> {
  const layout = vaultLayout(options);
  const http = new VaultHttp(options);
  await http.call('configureVault', 'write', `sys/policies/acl/${ORCHESTRATOR_POLICY_NAME}`, [200, 204], {
    body: { policy: orchestratorPolicy(layout) },
  });
  await http.call('configureVault', 'write', `auth/token/roles/${layout.tokenRole}`, [200, 204], {
    body: {
      allowed_policies_glob: [`${JOB_POLICY_PREFIX}*`],
      orphan: false,
      renewable: false,
      token_no_default_policy: true,
      token_type: 'service',
    },
  });
}
