import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EncryptedFileSecretStore } from '../../adapters/secrets/encrypted-file-secrets.ts';
import { secretStoreContract } from './contract.ts';

let dir: string;
const open = (): EncryptedFileSecretStore =>
  new EncryptedFileSecretStore({ file: join(dir, 'secrets.json'), keyFile: join(dir, 'secrets.key') });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiln-secrets-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('encrypted file secret store', () => {
  secretStoreContract(open);

  it('keeps neither values nor tokens in plain text, and the key file private', async () => {
    const store = open();
    await store.put('projects/acme/web/webhook', 'webhook-plain');
    await store.putProjectSecret('p1', 'TOKEN', 'value-plain');
    const credential = await store.issueJobCredential({ projectId: 'p1', names: ['TOKEN'], ttlMs: 60_000 });
    const file = await readFile(join(dir, 'secrets.json'), 'utf8');
    expect(file).not.toMatch(/webhook-plain|value-plain/);
    expect(file).not.toContain(credential.token);
    expect(statSync(join(dir, 'secrets.key')).mode & 0o777).toBe(0o600);
  });

  it('shares values and credentials between processes using the same files', async () => {
    const issuer = open();
    const runner = open();
    await issuer.putProjectSecret('p1', 'TOKEN', 'tok');
    const credential = await issuer.issueJobCredential({
      projectId: 'p1',
      names: ['TOKEN'],
      ttlMs: 60_000,
      uses: 2,
    });
    expect(await runner.resolveWithCredential(credential, 'p1', ['TOKEN'])).toEqual({ TOKEN: 'tok' });
    // Concurrent resolutions from both sides spend one shared budget of two reads.
    const results = await Promise.allSettled([
      issuer.resolveWithCredential(credential, 'p1', ['TOKEN']),
      runner.resolveWithCredential(credential, 'p1', ['TOKEN']),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    await runner.revokeJobCredential(credential.accessor);
    expect(await issuer.listProjectSecrets('p1')).toHaveLength(1);
  });

  it('reads a file written in the first (flat) format', async () => {
    const store = open();
    await store.put('projects/acme/web/webhook', 'legacy');
    const current = JSON.parse(await readFile(join(dir, 'secrets.json'), 'utf8')) as { refs: unknown };
    await writeFile(join(dir, 'secrets.json'), JSON.stringify(current.refs));
    expect(await open().get('projects/acme/web/webhook')).toBe('legacy');
  });

  it('prunes credentials that expired over a minute ago', async () => {
    const store = open();
    await store.issueJobCredential({ projectId: 'p1', names: ['TOKEN'], ttlMs: 1000 });
    const live = await store.issueJobCredential({ projectId: 'p1', names: ['TOKEN'], ttlMs: 600_000 });
    const path = join(dir, 'secrets.json');
    const content = JSON.parse(await readFile(path, 'utf8')) as {
      credentials: Record<string, { accessor: string; expiresAt: number }>;
    };
    for (const record of Object.values(content.credentials)) {
      if (record.accessor !== live.accessor) record.expiresAt = Date.now() - 61_000;
    }
    await writeFile(path, JSON.stringify(content));
    expect(await store.pruneExpiredCredentials()).toBe(1);
    expect(await store.pruneExpiredCredentials()).toBe(0);
  });
});
