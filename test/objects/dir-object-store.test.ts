import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import { InvalidInputError } from '../../shared/errors.ts';
import { BAD_KEYS, collect, objectStoreContract } from './contract.ts';

let root: string;
let store: DirObjectStore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-objects-'));
  store = new DirObjectStore({ root: join(root, 'store') });
});
afterAll(() => rm(root, { recursive: true, force: true }));

objectStoreContract('DirObjectStore', () => store);

describe('DirObjectStore', () => {
  it('never writes outside its root for a traversal key, and lists nothing outside it', async () => {
    await writeFile(join(root, 'outside.txt'), 'secret');
    for (const key of [...BAD_KEYS, '../outside.txt', 'data/../../outside.txt']) {
      await expect(store.put(key, Buffer.from('pwned')), key).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.get(key), key).rejects.toBeInstanceOf(InvalidInputError);
    }
    expect(await readdir(root)).toEqual(expect.arrayContaining(['outside.txt']));
    await expect(collect(store.list('../'))).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('leaves no temporary file behind after a put, failed or not', async () => {
    await store.put('tidy/ok', Buffer.from('ok'));
    expect(await readdir(join(root, 'store', 'tmp'))).toEqual([]);
  });

  it('reads an object as missing when a file stands where a directory should', async () => {
    await store.put('file', Buffer.from('x'));
    expect(await store.get('file/below')).toBeUndefined();
    await expect(store.put('file/below', Buffer.from('y'))).rejects.toThrow();
  });
});
