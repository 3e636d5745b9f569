import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createLogArchiver } from '../../adapters/logs/archiver.ts';
import { MemoryLogBus } from '../../adapters/logs/memory-log-bus.ts';
import { DirObjectStore } from '../../adapters/objects/dir-object-store.ts';
import { logPipelineContract } from './pipeline-contract.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'kiln-embedded-logs-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

logPipelineContract('in-process bus + directory store', async () => {
  const bus = new MemoryLogBus();
  const objects = new DirObjectStore({ root: join(root, crypto.randomUUID()) });
  return {
    factory: bus.factory,
    tail: bus,
    objects,
    archiver: (options) => createLogArchiver({ objects, source: bus.source(), ...options }),
    dispose: async () => {},
  };
});
