import { join, resolve } from 'node:path';

/** Where each embedded component keeps its state under `KILN_DATA_DIR`. */
export function dataDirs(dataDir: string) {
  const root = resolve(dataDir);
  return {
    root,
    mirrors: join(root, 'git'),
    runners: join(root, 'runners'),
    logs: join(root, 'logs'),
    /** The embedded object store (archived logs when the log bus is Kafka). */
    objects: join(root, 'objects'),
    temporalDb: join(root, 'temporal.sqlite'),
    temporalLog: join(root, 'temporal.log'),
    examples: join(root, 'examples'),
    pglite: join(root, 'pglite'),
    secrets: join(root, 'secrets.json'),
    secretsKey: join(root, 'secrets.key'),
  };
}
