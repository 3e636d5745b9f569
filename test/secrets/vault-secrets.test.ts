import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultSecretStore } from '../../adapters/secrets/vault-secrets.ts';
import { configureVault, ORCHESTRATOR_POLICY_NAME } from '../../adapters/secrets/vault-setup.ts';
import { startOpenBao, type RunningOpenBao } from '../../infra/dev/openbao.ts';
import { rejection, secretStoreContract } from './contract.ts';

let bao: RunningOpenBao;
let store: VaultSecretStore;

/** The parts of Vault's answers these tests look at. */
interface VaultJson {
  data: { data: Record<string, string>; policy: string; keys: string[]; ttl: number } & Record<
    string,
    unknown
  >;
  auth: { client_token: string };
}

/** Calls the Vault HTTP API as the administrator (root token). */
async function admin(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: VaultJson }> {
  const res = await fetch(`${bao.address}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': bao.rootToken },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: (text ? JSON.parse(text) : {}) as VaultJson };
}

beforeAll(async () => {
  bao = await startOpenBao({ onProgress: (m) => console.log(`[openbao] ${m}`) });
  await configureVault({ address: bao.address, token: bao.rootToken });
  // Kiln runs with its own least-privilege token, not the root token.
  const created = await admin('POST', 'auth/token/create', {
    policies: [ORCHESTRATOR_POLICY_NAME],
    ttl: '1h',
  });
  store = new VaultSecretStore({ address: bao.address, token: created.json.auth.client_token });
});

afterAll(async () => {
  await bao?.stop();
});

describe('Vault secret store on OpenBao', () => {
  secretStoreContract(() => store);

  it('keeps values in KV v2 under kiln/ and issues narrow, non-renewable child tokens', async () => {
    await store.putProjectSecret('p-layout', 'DEPLOY_KEY', 'k');
    await store.put('projects/acme/web/webhook', 'w');
    expect((await admin('GET', 'secret/data/kiln/projects/p-layout/DEPLOY_KEY')).json.data.data).toEqual({
      value: 'k',
    });
    expect((await admin('GET', 'secret/data/kiln/refs/projects/acme/web/webhook')).json.data.data).toEqual({
      value: 'w',
    });

    const credential = await store.issueJobCredential({
      projectId: 'p-layout',
      names: ['DEPLOY_KEY'],
      ttlMs: 60_000,
      uses: 2,
    });
    const [policy, accessor] = credential.accessor.split(':');
    const token = (await admin('POST', 'auth/token/lookup-accessor', { accessor })).json.data;
    expect(token).toMatchObject({ policies: [policy], renewable: false, num_uses: 2, orphan: false });
    expect(token.ttl).toBeLessThanOrEqual(60);
    const rules = (await admin('GET', `sys/policies/acl/${policy}`)).json.data.policy;
    expect(rules.match(/path "[^"]+"/g)).toEqual(['path "secret/data/kiln/projects/p-layout/DEPLOY_KEY"']);
    expect(rules).toContain('capabilities = ["read"]');

    await store.revokeJobCredential(credential.accessor);
    expect((await admin('GET', `sys/policies/acl/${policy}`)).status).toBe(404);
    expect((await admin('POST', 'auth/token/lookup-accessor', { accessor })).status).toBe(400);
  });

  it('prunes policies of credentials that expired unrevoked, and only those', async () => {
    const past = Math.floor(Date.now() / 1000) - 120;
    await admin('PUT', `sys/policies/acl/kiln-job-${past}-0123456789abcdef`, {
      policy: 'path "x" { capabilities = ["read"] }',
    });
    const live = await store.issueJobCredential({ projectId: 'p-prune', names: ['A'], ttlMs: 60_000 });
    expect(await store.pruneExpiredCredentials()).toBe(1);
    const policies = (await admin('LIST', 'sys/policies/acl')).json.data.keys;
    expect(policies).not.toContain(`kiln-job-${past}-0123456789abcdef`);
    expect(policies).toContain(live.accessor.split(':')[0]);
    await store.revokeJobCredential(live.accessor);
  });

  it("resolves on the runner side with the job token alone, without Kiln's token", async () => {
    await store.putProjectSecret('p-runner', 'TOKEN', 'tok');
    const credential = await store.issueJobCredential({
      projectId: 'p-runner',
      names: ['TOKEN'],
      ttlMs: 60_000,
    });
    const runnerSide = new VaultSecretStore({ address: bao.address });
    expect(await runnerSide.resolveWithCredential(credential, 'p-runner', ['TOKEN'])).toEqual({
      TOKEN: 'tok',
    });
    expect((await rejection(runnerSide.listProjectSecrets('p-runner'))).code).toBe(
      'SECRET_STORE_UNAVAILABLE',
    );
    await store.revokeJobCredential(credential.accessor);
  });

  it("fails as unavailable when Vault refuses Kiln's own token", async () => {
    const impostor = new VaultSecretStore({ address: bao.address, token: 'not-a-token' });
    const err = await rejection(impostor.putProjectSecret('p1', 'A', 'v'));
    expect(err.code).toBe('SECRET_STORE_UNAVAILABLE');
    expect(err.message).toMatch(/denied Kiln's own token/);
  });
});

describe('Vault secret store with Vault stopped', () => {
  it('fails every operation with SECRET_STORE_UNAVAILABLE and a clear message', async () => {
    const down = await startOpenBao();
    await configureVault({ address: down.address, token: down.rootToken });
    const vault = new VaultSecretStore({ address: down.address, token: down.rootToken, timeoutMs: 2000 });
    await vault.putProjectSecret('p1', 'TOKEN', 'tok');
    const credential = await vault.issueJobCredential({ projectId: 'p1', names: ['TOKEN'], ttlMs: 60_000 });
    await down.stop();

    const failures = await Promise.all([
      rejection(vault.resolveWithCredential(credential, 'p1', ['TOKEN'])),
      rejection(vault.issueJobCredential({ projectId: 'p1', names: ['TOKEN'], ttlMs: 60_000 })),
      rejection(vault.revokeJobCredential(credential.accessor)),
      rejection(vault.putProjectSecret('p1', 'TOKEN', 'tok')),
      rejection(vault.listProjectSecrets('p1')),
      rejection(vault.get('projects/acme/web/webhook')),
    ]);
    for (const err of failures) {
      expect(err.code).toBe('SECRET_STORE_UNAVAILABLE');
      expect(err.message).toContain(`cannot reach Vault at ${down.address}`);
      expect(err.message).not.toContain(credential.token);
      expect(err.message).not.toContain(down.rootToken);
      expect(err.cause).toBeUndefined();
    }
    expect(failures[0]!.message).toMatch(
      /^secret store unavailable \(resolveWithCredential\): cannot reach Vault/,
    );
  });
});
