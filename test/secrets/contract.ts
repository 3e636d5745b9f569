/**
 * The contract of the secrets port, run against every adapter: each adapter's test file calls
 * `secretStoreContract` with a function returning the store under test.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { JobCredential, SecretStoreAdapter } from '../../adapters/secrets/port.ts';

const DEPLOY_KEY = '-----BEGIN KEY-----\nline one\nline two ünïcödé\n-----END KEY-----\n';

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  const result = await promise.then(
    () => undefined,
    (err: unknown) => err as Error & { code?: string },
  );
  if (result === undefined) throw new Error('expected a rejection');
  return result;
}

export function secretStoreContract(storeUnderTest: () => SecretStoreAdapter): void {
  const project = (): string => randomUUID();

  it('puts, gets, replaces and deletes a value by reference', async () => {
    const store = storeUnderTest();
    const ref = `projects/acme/${randomUUID()}/webhook`;
    expect(await store.get(ref)).toBeUndefined();
    await store.put(ref, 'first');
    expect(await store.get(ref)).toBe('first');
    await store.put(ref, DEPLOY_KEY);
    expect(await store.get(ref)).toBe(DEPLOY_KEY);
    await store.delete(ref);
    expect(await store.get(ref)).toBeUndefined();
    await store.delete(ref);
  });

  it('lists project secrets by name with update times, never values', async () => {
    const store = storeUnderTest();
    const id = project();
    expect(await store.listProjectSecrets(id)).toEqual([]);
    const before = Date.now();
    const info = await store.putProjectSecret(id, 'NPM_TOKEN', 'value-npm-1');
    expect(info.name).toBe('NPM_TOKEN');
    expect(Date.parse(info.updatedAt)).toBeGreaterThanOrEqual(before - 1000);
    await store.putProjectSecret(id, 'DEPLOY_KEY', DEPLOY_KEY);
    await new Promise((r) => setTimeout(r, 10));
    const replaced = await store.putProjectSecret(id, 'NPM_TOKEN', 'value-npm-2');

    const listed = await store.listProjectSecrets(id);
    expect(listed.map((s) => s.name)).toEqual(['DEPLOY_KEY', 'NPM_TOKEN']);
    expect(listed.every((s) => Object.keys(s).sort().join() === 'name,updatedAt')).toBe(true);
    expect(listed[1]!.updatedAt).toBe(replaced.updatedAt);
    expect(Date.parse(replaced.updatedAt)).toBeGreaterThan(Date.parse(info.updatedAt));
    expect(JSON.stringify(listed)).not.toMatch(/value-npm|line one/);

    await store.deleteProjectSecret(id, 'NPM_TOKEN');
    await store.deleteProjectSecret(id, 'NPM_TOKEN');
    expect((await store.listProjectSecrets(id)).map((s) => s.name)).toEqual(['DEPLOY_KEY']);
  });

  it('rejects names that are not environment variable names and project ids that are not one segment', async () => {
    const store = storeUnderTest();
    for (const name of ['', '1ABC', 'A-B', 'A/B', '../X']) {
      expect((await rejection(store.putProjectSecret(project(), name, 'v'))).code).toBe('INVALID_INPUT');
    }
    for (const id of ['', '..', 'a/b', '../etc']) {
      expect((await rejection(store.listProjectSecrets(id))).code).toBe('INVALID_INPUT');
    }
  });

  it("gives a job credential exactly its project's declared secrets", async () => {
    const store = storeUnderTest();
    const [mine, other] = [project(), project()];
    await store.putProjectSecret(mine, 'DEPLOY_KEY', DEPLOY_KEY);
    await store.putProjectSecret(mine, 'NPM_TOKEN', 'npm-secret');
    await store.putProjectSecret(mine, 'UNDECLARED', 'not-for-this-job');
    await store.putProjectSecret(other, 'DEPLOY_KEY', 'other-project-key');
    const credential = await store.issueJobCredential({
      projectId: mine,
      names: ['DEPLOY_KEY', 'NPM_TOKEN', 'DEPLOY_KEY'],
      ttlMs: 60_000,
    });
    expect(credential.token).not.toBe(credential.accessor);
    expect(Date.parse(credential.expiresAt)).toBeGreaterThan(Date.now() + 55_000);

    expect(await store.resolveWithCredential(credential, mine, ['DEPLOY_KEY', 'NPM_TOKEN'])).toEqual({
      DEPLOY_KEY,
      NPM_TOKEN: 'npm-secret',
    });
    expect(await store.resolveWithCredential(credential, mine, ['NPM_TOKEN'])).toEqual({
      NPM_TOKEN: 'npm-secret',
    });

    const otherProject = await rejection(store.resolveWithCredential(credential, other, ['DEPLOY_KEY']));
    expect(otherProject.code).toBe('SECRET_ACCESS_DENIED');
    expect(otherProject.message).not.toContain('other-project-key');
    const undeclared = await rejection(
      store.resolveWithCredential(credential, mine, ['NPM_TOKEN', 'UNDECLARED']),
    );
    expect(undeclared.code).toBe('SECRET_ACCESS_DENIED');
    expect(undeclared.message).toContain('"UNDECLARED"');
    expect(undeclared.message).not.toContain(credential.token);
    expect(undeclared.message).not.toContain('npm-secret');
  });

  it('refuses every read after revocation; revoking again is a no-op', async () => {
    const store = storeUnderTest();
    const id = project();
    await store.putProjectSecret(id, 'TOKEN', 'tok');
    const credential = await store.issueJobCredential({ projectId: id, names: ['TOKEN'], ttlMs: 60_000 });
    expect(await store.resolveWithCredential(credential, id, ['TOKEN'])).toEqual({ TOKEN: 'tok' });
    await store.revokeJobCredential(credential.accessor);
    expect((await rejection(store.resolveWithCredential(credential, id, ['TOKEN']))).code).toBe(
      'SECRET_ACCESS_DENIED',
    );
    await store.revokeJobCredential(credential.accessor);
    expect(await store.pruneExpiredCredentials()).toBeGreaterThanOrEqual(0);
    expect((await rejection(store.revokeJobCredential('s.not-ours'))).code).toBe('INVALID_INPUT');
  });

  it('enforces the TTL', async () => {
    const store = storeUnderTest();
    const id = project();
    await store.putProjectSecret(id, 'TOKEN', 'tok');
    const credential = await store.issueJobCredential({ projectId: id, names: ['TOKEN'], ttlMs: 900 });
    const expiresAt = Date.parse(credential.expiresAt);
    expect(expiresAt - Date.now()).toBeLessThanOrEqual(1000);
    expect(await store.resolveWithCredential(credential, id, ['TOKEN'])).toEqual({ TOKEN: 'tok' });
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 150));
    expect((await rejection(store.resolveWithCredential(credential, id, ['TOKEN']))).code).toBe(
      'SECRET_ACCESS_DENIED',
    );
  });

  it('enforces the uses budget: one resolution of the declared set per use', async () => {
    const store = storeUnderTest();
    const id = project();
    await store.putProjectSecret(id, 'A', 'a');
    await store.putProjectSecret(id, 'B', 'b');
    const credential = await store.issueJobCredential({
      projectId: id,
      names: ['A', 'B'],
      ttlMs: 60_000,
      uses: 1,
    });
    expect(await store.resolveWithCredential(credential, id, ['A', 'B'])).toEqual({ A: 'a', B: 'b' });
    expect((await rejection(store.resolveWithCredential(credential, id, ['A']))).code).toBe(
      'SECRET_ACCESS_DENIED',
    );
  });

  it('names every declared secret that has no value (final, not retried)', async () => {
    const store = storeUnderTest();
    const id = project();
    await store.putProjectSecret(id, 'PRESENT', 'here');
    const credential = await store.issueJobCredential({
      projectId: id,
      names: ['PRESENT', 'MISSING_ONE', 'MISSING_TWO'],
      ttlMs: 60_000,
    });
    const err = await rejection(
      store.resolveWithCredential(credential, id, ['PRESENT', 'MISSING_ONE', 'MISSING_TWO']),
    );
    expect(err.code).toBe('SECRET_NOT_FOUND');
    expect(err.message).toContain('"MISSING_ONE"');
    expect(err.message).toContain('"MISSING_TWO"');
    expect(err.message).not.toContain('"PRESENT"');
    expect(err.message).toContain(id);

    await store.putProjectSecret(id, 'MISSING_ONE', 'now set');
    await store.deleteProjectSecret(id, 'PRESENT');
    const after = await rejection(store.resolveWithCredential(credential, id, ['PRESENT', 'MISSING_ONE']));
    expect(after.code).toBe('SECRET_NOT_FOUND');
    expect(after.message).toMatch(/secret "PRESENT" not set/);
  });

  it('treats names such as constructor as plain names, and refuses __proto__', async () => {
    const store = storeUnderTest();
    const id = project();
    expect(await store.listProjectSecrets('constructor')).toEqual([]);
    await store.putProjectSecret(id, 'toString', 'to-string-value');
    const credential = await store.issueJobCredential({
      projectId: id,
      names: ['toString', 'constructor'],
      ttlMs: 60_000,
    });
    const resolved = await store.resolveWithCredential(credential, id, ['toString']);
    expect(Object.entries(resolved)).toEqual([['toString', 'to-string-value']]);
    const err = await rejection(store.resolveWithCredential(credential, id, ['constructor']));
    expect(err.code).toBe('SECRET_NOT_FOUND');
    expect((await store.listProjectSecrets(id)).map((s) => s.name)).toEqual(['toString']);
    expect((await rejection(store.putProjectSecret(id, '__proto__', 'v'))).code).toBe('INVALID_INPUT');
  });

  it('denies a forged or foreign token', async () => {
    const store = storeUnderTest();
    const id = project();
    await store.putProjectSecret(id, 'TOKEN', 'tok');
    const forged: Pick<JobCredential, 'token'> = { token: 'kiln.forged-token-value' };
    const err = await rejection(store.resolveWithCredential(forged, id, ['TOKEN']));
    expect(err.code).toBe('SECRET_ACCESS_DENIED');
    expect(err.message).not.toContain('forged-token-value');
    // An empty token must not fall back to the store's own privileges.
    expect((await rejection(store.resolveWithCredential({ token: '' }, id, ['TOKEN']))).code).toBe(
      'SECRET_ACCESS_DENIED',
    );
  });
}
