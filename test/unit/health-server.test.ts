import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/dev/server-process.ts';
import { startHealthServer } from '../../workers/health-server.ts';

describe('health endpoint of the workers', () => {
  it('answers 200 while healthy, 503 otherwise, and 404 off /healthz', async () => {
    let healthy = true;
    const port = await freePort();
    const server = await startHealthServer(port, () => healthy);
    try {
      const url = `http://127.0.0.1:${port}`;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      healthy = false;
      const down = await fetch(`${url}/healthz`);
      expect(down.status).toBe(503);
      expect(await down.text()).toBe('unhealthy\n');
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
      expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('fails to start, rather than run without probes, when the port is taken', async () => {
    const port = await freePort();
    const first = await startHealthServer(port, () => true);
    try {
      await expect(startHealthServer(port, () => true)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
