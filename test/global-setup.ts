import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { startTemporalDevServer } from '../infra/temporal/dev-server.ts';
import { obtainTemporalCli } from '../infra/temporal/obtain-cli.ts';

/** Namespace of the shared test server (the `default` namespace exists too). */
const TEST_NAMESPACE = 'kiln-test';

const progress = (message: string): void => console.log(`[kiln test setup] ${message}`);

/**
 * Runs once per `vitest run`: starts one headless, in-memory Temporal dev server on free ports and
 * bundles the workflow code once, then provides `temporalAddress`, `temporalNamespace` and
 * `workflowBundlePath` to every test file through `inject()`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const scratch = await mkdtemp(join(tmpdir(), 'kiln-test-'));
  const [started, bundled] = await Promise.allSettled([
    obtainTemporalCli({ onProgress: progress }).then((cliPath) =>
      startTemporalDevServer({ cliPath, uiPort: false, namespace: TEST_NAMESPACE, onProgress: progress }),
    ),
    bundleWorkflows(scratch),
  ]);
  if (started.status === 'rejected' || bundled.status === 'rejected') {
    if (started.status === 'fulfilled') await started.value.stop();
    await rm(scratch, { recursive: true, force: true });
    throw started.status === 'rejected' ? started.reason : (bundled as PromiseRejectedResult).reason;
  }
  const server = started.value;
  const workflowBundlePath = bundled.value;

  project.provide('temporalAddress', server.address);
  project.provide('temporalNamespace', server.namespace);
  project.provide('workflowBundlePath', workflowBundlePath);

  return async function teardown() {
    await server.stop();
    await rm(scratch, { recursive: true, force: true });
  };
}

/**
 * Bundles `workflows/index.ts` once for the whole run (workers load it with
 * `workflowBundle: { codePath }`); returns `''` while there is no workflow code yet.
 */
async function bundleWorkflows(dir: string): Promise<string> {
  const workflowsPath = resolve(import.meta.dirname, '..', 'workflows', 'index.ts');
  if (!existsSync(workflowsPath)) return '';
  const started = Date.now();
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: new DefaultLogger('WARN') });
  const codePath = join(dir, 'workflow-bundle.js');
  await writeFile(codePath, code);
  progress(`workflow bundle ready in ${Date.now() - started} ms (${Math.round(code.length / 1024)} KB)`);
  return codePath;
}
