import 'vitest';

declare module 'vitest' {
  /** Values the global setup (test/global-setup.ts) hands to every test file through `inject()`. */
  export interface ProvidedContext {
    /** `host:port` of the Temporal dev server shared by the whole test run. */
    temporalAddress: string;
    /** Namespace on that server, with Kiln's search attributes registered. */
    temporalNamespace: string;
    /** Workflow bundle built once per run from workflows/index.ts; `''` if there is none yet. */
    workflowBundlePath: string;
  }
}
