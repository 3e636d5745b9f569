import { afterAll, beforeAll, describe } from 'vitest';
import { projectionStoreContract } from './contract.ts';
import { pgliteHarness, type StoreHarness } from './harness.ts';

let harness: StoreHarness;

beforeAll(async () => {
  harness = await pgliteHarness();
});

afterAll(async () => {
  await harness?.dispose();
});

describe('PGlite projection store', () => {
  projectionStoreContract(() => harness);
});
