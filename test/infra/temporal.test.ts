import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  devServerArgs,
  startTemporalDevServer,
  type TemporalDevServer,
} from '../../infra/temporal/dev-server.ts';
import { obtainTemporalCli, TemporalCliError } from '../../infra/temporal/obtain-cli.ts';
import { KILN_SEARCH_ATTRIBUTES } from '../../infra/temporal/search-attributes.ts';

const kilnAttributeNames = KILN_SEARCH_ATTRIBUTES.map((attribute) => attribute.name);

async function customSearchAttributes(address: string, namespace: string): Promise<Record<string, unknown>> {
  const connection = await Connection.connect({ address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    return customAttributes;
  } finally {
    await connection.close();
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the shared test server from global setup', () => {
  it('answers and has the Kiln search attributes in its namespace', async () => {
    const attributes = await customSearchAttributes(inject('temporalAddress'), inject('temporalNamespace'));
    expect(Object.keys(attributes)).toEqual(expect.arrayContaining(kilnAttributeNames));
  });
});

describe('startTemporalDevServer', () => {
  let scratch: string;
  let server: TemporalDevServer;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'kiln-temporal-test-'));
    server = await startTemporalDevServer({
      cliPath: await obtainTemporalCli(),
      dbFile: join(scratch, 'temporal.sqlite'),
      uiPort: false,
      namespace: 'kiln-dev-server-test',
      logFile: join(scratch, 'temporal.log'),
    });
  });

  afterAll(async () => {
    await server?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('binds 127.0.0.1 on a free port next to the shared server', () => {
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.address).not.toBe(inject('temporalAddress'));
    expect(server.namespace).toBe('kiln-dev-server-test');
    expect(server.uiUrl).toBeUndefined();
  });

  it('answers Connection.connect and describes its namespace', async () => {
    const connection = await Connection.connect({ address: server.address });
    try {
      const described = await connection.workflowService.describeNamespace({ namespace: server.namespace });
      expect(described.namespaceInfo?.name).toBe(server.namespace);
    } finally {
      await connection.close();
    }
  });

  it('registers the Kiln search attributes as Keyword', async () => {
    const attributes = await customSearchAttributes(server.address, server.namespace);
    for (const name of kilnAttributeNames) expect(attributes[name], name).toBe(2); // INDEXED_VALUE_TYPE_KEYWORD
  });

  it('keeps its SQLite file in WAL mode', () => {
    expect(existsSync(join(scratch, 'temporal.sqlite'))).toBe(true);
    expect(existsSync(join(scratch, 'temporal.sqlite-wal'))).toBe(true);
  });

  it('refuses a port that is already taken, naming it', async () => {
    const port = Number(server.address.split(':')[1]);
    await expect(
      startTemporalDevServer({ cliPath: await obtainTemporalCli(), port, uiPort: false }),
    ).rejects.toThrow(`frontend port ${server.address} is already in use`);
  });

  it('stop() ends the process, and a second stop() is harmless', async () => {
    expect(isRunning(server.pid)).toBe(true);
    await server.stop();
    expect(isRunning(server.pid)).toBe(false);
    await server.stop();
  });
});

describe('startTemporalDevServer failures', () => {
  it('reports an early exit with the tail of the server output', async () => {
    const error = await startTemporalDevServer({
      cliPath: await obtainTemporalCli(),
      uiPort: false,
      dbFile: join(tmpdir(), 'kiln-no-such-dir', 'nested', 'temporal.sqlite'),
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TEMPORAL_SERVER_FAILED' });
    expect(String(error)).toMatch(/exited during start[\s\S]*no such file or directory/);
  });
});

describe('devServerArgs', () => {
  it('builds a headless in-memory command line with search attributes and dynamic config', () => {
    const args = devServerArgs({
      ip: '127.0.0.1',
      port: 7233,
      uiPort: undefined,
      namespace: 'ci',
      searchAttributes: [{ name: 'KilnRepo', type: 'Keyword' }],
      dynamicConfig: { 'limit.numPendingChildExecutions.error': 4000 },
    });
    expect(args.join(' ')).toBe(
      'server start-dev --ip 127.0.0.1 --port 7233 --headless --namespace ci --search-attribute KilnRepo=Keyword ' +
        '--dynamic-config-value limit.numPendingChildExecutions.error=4000 --log-level warn',
    );
  });

  it('opens a database file in WAL mode and serves the UI when asked', () => {
    const args = devServerArgs({
      ip: '127.0.0.1',
      port: 7233,
      uiPort: 8233,
      namespace: 'default',
      dbFile: '.kiln/temporal.sqlite',
      searchAttributes: [],
      dynamicConfig: {},
    });
    expect(args).toEqual(
      expect.arrayContaining(['--ui-port', '8233', '--db-filename', '.kiln/temporal.sqlite']),
    );
    expect(args.join(' ')).toContain('--sqlite-pragma journal_mode=wal');
    expect(args).not.toContain('--headless');
  });
});

describe('obtainTemporalCli', () => {
  it('returns an explicit path as is when it is executable', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cli-test-'));
    try {
      const fake = join(dir, 'temporal');
      await writeFile(fake, '#!/bin/sh\n', { mode: 0o755 });
      await expect(obtainTemporalCli({ explicitPath: fake })).resolves.toBe(fake);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('names an explicit path that does not exist', async () => {
    const error = await obtainTemporalCli({ explicitPath: '/nonexistent/temporal' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TemporalCliError);
    expect(error).toMatchObject({ code: 'TEMPORAL_CLI_UNAVAILABLE', step: 'explicit-path' });
    expect(String(error)).toContain('/nonexistent/temporal');
  });

  it('finds the binary obtained by global setup', async () => {
    const path = await obtainTemporalCli();
    expect(existsSync(path)).toBe(true);
  });
});
