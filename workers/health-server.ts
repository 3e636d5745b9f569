/**
 * The health endpoint of a process without an HTTP API (the workers, the log archiver):
 * `GET /healthz` answers 200 while `healthy()` holds and 503 otherwise, so the kubelet can tell a
 * drained or failed worker from a working one. Served only when KILN_HEALTH_PORT is set.
 */
import { createServer, type Server } from 'node:http';

export interface HealthServer {
  close(): Promise<void>;
}

/** Listens on `port` of all interfaces (probes come from the node); resolves once listening. */
export async function startHealthServer(port: number, healthy: () => boolean): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/healthz') {
      res.writeHead(404).end();
      return;
    }
    const ok = healthy();
    res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unhealthy\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '0.0.0.0', () => resolve());
  });
  server.unref();
  return { close: () => new Promise((resolve) => server.close(() => resolve())) };
}
