/**
 * The log archiver of the logs benchmark, in its own process as in production. Prints `ready`
 * once started; stops (flushing) on SIGTERM. Usage: `node bench/logs-archiver.ts '<json>'`.
 */
import { createLogArchiver } from '../adapters/logs/archiver.ts';
import { S3ObjectStore } from '../adapters/objects/s3-object-store.ts';

interface Options {
  brokers: string[];
  topic: string;
  groupId: string;
  s3: { endpoint: string; bucket: string; accessKey: string; secretKey: string };
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const objects = new S3ObjectStore({
  endpoint: options.s3.endpoint,
  bucket: options.s3.bucket,
  credentials: { accessKeyId: options.s3.accessKey, secretAccessKey: options.s3.secretKey },
});
const archiver = createLogArchiver({
  brokers: options.brokers,
  topic: options.topic,
  groupId: options.groupId,
  objects,
});
await archiver.start();
console.log('ready');
process.once('SIGTERM', () => {
  void archiver.stop().finally(() => {
    objects.destroy();
    process.exit(0);
  });
});
