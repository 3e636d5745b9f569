import type { RunnerSpec } from './port.ts';

/**
 * What Kiln sets in every step's environment, whatever the backend: `CI` and the `KILN_*`
 * variables describing the build, the commit and where the workspace is. A pipeline cannot
 * override them, so every backend applies them last.
 */
export function kilnStepVariables(spec: RunnerSpec, workspace: string): Record<string, string> {
  const { ref, sha } = spec.checkout;
  const branch =
    spec.checkout.branch ?? (ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined);
  const tag = ref.startsWith('refs/tags/') ? ref.slice('refs/tags/'.length) : undefined;
  return {
    CI: 'true',
    KILN_BUILD_ID: spec.buildId,
    KILN_JOB: spec.jobKey,
    KILN_ATTEMPT: String(spec.attempt),
    KILN_COMMIT_SHA: sha,
    KILN_REF: ref,
    ...(branch === undefined ? {} : { KILN_BRANCH: branch }),
    ...(tag === undefined ? {} : { KILN_TAG: tag }),
    KILN_WORKSPACE: workspace,
  };
}
