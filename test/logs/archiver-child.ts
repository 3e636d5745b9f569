/**
 * A log archiver in its own process, so a test can kill it with SIGKILL mid-stream.
 * Usage: node archiver-child.ts '<json options>'
 */
import { createLogArchiver } from '../../adapters/logs/archiver.ts';
import { S3ObjectStore } from '../../adapters/objects/s3-object-store.ts';

interface ChildOptions {
  brokers: string[];
  topic: string;
  groupId: string;
  s3: { endpoint: string; bucket: string; accessKey: string; secretKey: string };
  flushMs: number;
  flushBytes: number;
  sessionTimeoutMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const objects = new S3ObjectStore({
  endpoint: options.s3.endpoint,
  bucket: options.s3.bucket,
  credentials: { accessKeyId: options.s3.accessKey, secretAccessKey: options.s3.secretKey },
});
const archiver = createLogArchiver({ ...options, objects });
await archiver.start();
console.log('started');
