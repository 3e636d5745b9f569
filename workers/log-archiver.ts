/**
 * Log archiver entry point: `node workers/log-archiver.ts`. Reads the Kafka logs topic as a member
 * of the archiver group and writes each attempt's lines to the object store (gzip chunks every 5 s
 * or 1 MB, a manifest when the attempt ends). Run as many as the topic has partitions. Stops on
 * SIGINT/SIGTERM after writing what it holds; a crash loses nothing (offsets follow the writes).
 */
import { createLogArchiver } from '../adapters/logs/archiver.ts';
import { ensureLogsTopic } from '../adapters/logs/kafka-client.ts';
import { startHealthServer } from './health-server.ts';
import { loadConfigOrExit } from './load-config.ts';
import { createObjectStore, kafkaLogBus } from './ports.ts';

const config = loadConfigOrExit();
const kafka = kafkaLogBus(config);
if (kafka === undefined) {
  console.error('kiln log archiver: KILN_KAFKA_BROKERS is "embedded"; there is no log bus to archive');
  process.exit(2);
}
await ensureLogsTopic({ ...kafka, clientId: 'kiln-log-archiver' });
const objects = createObjectStore(config);
const archiver = createLogArchiver({
  objects,
  brokers: kafka.brokers,
  topic: kafka.topic,
  clientId: 'kiln-log-archiver',
  onError: (err) => console.error('kiln log archiver: recovering from', err),
});
await archiver.start();
let stopping = false;
if (config.KILN_HEALTH_PORT !== undefined) await startHealthServer(config.KILN_HEALTH_PORT, () => !stopping);
console.log(`kiln log archiver: archiving ${kafka.topic} from ${kafka.brokers.join(',')}`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopping = true;
    void archiver
      .stop({ flush: true })
      .catch((err: unknown) => console.error('kiln log archiver: stop failed:', err))
      .finally(() => process.exit(0));
  });
}
