import { describe, expect, it } from 'vitest';
import { createApp, type ApiDeps } from '../../api/app.ts';
import { openApiDocument } from '../../api/openapi.ts';

describe('OpenAPI document', () => {
  it('documents every route the app serves, and nothing else', () => {
    // Registering routes touches no dependency, so empty stand-ins are enough here.
    const app = createApp({ apiToken: 'x'.repeat(16) } as unknown as ApiDeps);
    const served = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL')
        .map(
          (r) =>
            // `:path{.+}` (a parameter with its pattern) is documented as `{path}`.
            `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)(\{[^}]*\})?/g, '{$1}').replace(/\/$/, '')}`,
        ),
    );
    const documented = new Set(
      Object.entries(openApiDocument.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m} ${path}`),
      ),
    );
    expect([...served].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((r) => !served.has(r))).toEqual([]);
  });
});
