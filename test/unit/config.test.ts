import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../shared/config.ts';

describe('loadConfig', () => {
  it('defaults to the embedded adapters', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      KILN_TEMPORAL_ADDRESS: 'embedded',
      KILN_API_PORT: 8080,
      KILN_RUNNER_HEARTBEAT_TIMEOUT: 20_000,
      KILN_INFRA_RETRY_BACKOFF: 2_000,
    });
  });

  it('parses durations and numbers', () => {
    const config = loadConfig({
      KILN_RUNNER_HEARTBEAT_TIMEOUT: '1m',
      KILN_API_PORT: '9000',
      KILN_MAX_JOBS_IN_FLIGHT: '7',
    });
    expect(config.KILN_RUNNER_HEARTBEAT_TIMEOUT).toBe(60_000);
    expect(config.KILN_API_PORT).toBe(9000);
    expect(config.KILN_MAX_JOBS_IN_FLIGHT).toBe(7);
  });

  it('reads the log bus and object store settings', () => {
    expect(loadConfig({})).toMatchObject({
      KILN_KAFKA_BROKERS: 'embedded',
      KILN_LOGS_TOPIC: 'kiln.logs',
      KILN_OBJECT_STORE: 'embedded',
    });
    const config = loadConfig({
      KILN_KAFKA_BROKERS: 'kafka-1:9092,kafka-2:9092',
      KILN_OBJECT_STORE: 's3',
      KILN_S3_ENDPOINT: 'http://127.0.0.1:9000',
      KILN_S3_BUCKET: 'logs',
    });
    expect(config).toMatchObject({ KILN_OBJECT_STORE: 's3', KILN_S3_BUCKET: 'logs' });
    expect(() => loadConfig({ KILN_KAFKA_BROKERS: 'kafka-1' })).toThrow(/^KILN_KAFKA_BROKERS: expected/);
    expect(() => loadConfig({ KILN_OBJECT_STORE: 'ftp' })).toThrow(/^KILN_OBJECT_STORE: /);
  });

  it('names the variable of a bad value', () => {
    expect(() => loadConfig({ KILN_API_PORT: 'eighty' })).toThrow(ConfigError);
    expect(() => loadConfig({ KILN_API_PORT: 'eighty' })).toThrow(/^KILN_API_PORT: .*"eighty"/);
    expect(() => loadConfig({ KILN_RUNNER_HEARTBEAT_TIMEOUT: '5 minutes' })).toThrow(
      /^KILN_RUNNER_HEARTBEAT_TIMEOUT: expected a duration/,
    );
    expect(() => loadConfig({ KILN_API_TOKEN: 'short' })).toThrow(/^KILN_API_TOKEN: /);
  });

  it('rejects unknown KILN_ variables, which are usually typos', () => {
    expect(() => loadConfig({ KILN_API_PROT: '1' })).toThrow(/^KILN_API_PROT: unknown setting/);
    expect(() => loadConfig({ KILN_BUILD_ID: 'x' })).not.toThrow();
  });
});
