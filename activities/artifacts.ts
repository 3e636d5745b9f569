import type { ArtifactStore } from '../adapters/artifacts/artifact-store.ts';
import type { RunnerBackend, RunnerSpec, StagedFile } from '../adapters/runner/port.ts';
import { FailureCodes, InfrastructureError, isInfrastructureCode, KilnError } from '../shared/errors.ts';

/**
 * The artifact side of one attempt, on the runner worker: the needed jobs' files go into the
 * staging area before the launch, the job's own files up to the object store after it. Object
 * store failures are infrastructure (`ARTIFACT_STORE_UNAVAILABLE`: a new attempt); a path that
 * leaves the workspace is the job's fault (`ARTIFACT_INVALID`: final).
 */

/** Stages the artifacts of the jobs `spec` needs. Does nothing for a job that needs none. */
export async function stageNeededArtifacts(
  runner: RunnerBackend,
  artifacts: ArtifactStore | undefined,
  spec: RunnerSpec,
): Promise<void> {
  if (spec.artifacts !== undefined) requireSupport(runner, artifacts, spec);
  const needs = spec.needs ?? [];
  if (needs.length === 0 || artifacts === undefined || runner.workspaceFiles === undefined) return;
  const workspaceFiles = runner.workspaceFiles;
  await asInfrastructure('download', async () => {
    const byPath = new Map<string, StagedFile>();
    const notes: string[] = [];
    const now = new Date();
    for (const jobKey of needs) {
      const manifest = await artifacts.manifest(spec.buildId, jobKey);
      if (manifest === undefined || manifest.files.length === 0) continue;
      if (artifacts.isExpired(manifest, now)) {
        notes.push(`⚠ artifacts of job "${jobKey}" expired at ${manifest.expiresAt}: not placed`);
        continue;
      }
      // A later need wins a path both produced, as in GitLab.
      for (const file of manifest.files) {
        byPath.set(file.path, {
          path: file.path,
          mode: file.mode,
          size: file.size,
          fromJob: jobKey,
          open: () => artifacts.openVerified(file),
        });
      }
    }
    if (byPath.size === 0 && notes.length === 0) return;
    await workspaceFiles.stageInputs(spec.runnerId, { files: [...byPath.values()], notes });
  });
}

/**
 * Uploads what the runner collected after the steps and writes the job's manifest. Nothing to do
 * when the job keeps no artifacts, or when `when` did not fit the outcome (the runner collected
 * nothing then).
 */
export async function keepArtifacts(
  runner: RunnerBackend,
  artifacts: ArtifactStore | undefined,
  spec: RunnerSpec,
): Promise<void> {
  if (spec.artifacts === undefined) return;
  const { workspaceFiles, store } = requireSupport(runner, artifacts, spec);
  await asInfrastructure('upload', async () => {
    const collected = await workspaceFiles.collectedOutputs(spec.runnerId);
    if (collected === undefined || collected.length === 0) return;
    await store.publish(
      {
        buildId: spec.buildId,
        jobKey: spec.jobKey,
        attempt: spec.attempt,
        ...(spec.artifacts?.expireInMs === undefined ? {} : { expireInMs: spec.artifacts.expireInMs }),
      },
      collected.map((file) => ({ ...file, open: () => workspaceFiles.openOutput(spec.runnerId, file.path) })),
    );
  });
}

function requireSupport(runner: RunnerBackend, artifacts: ArtifactStore | undefined, spec: RunnerSpec) {
  if (runner.workspaceFiles === undefined || artifacts === undefined) {
    const missing =
      artifacts === undefined
        ? 'no object store is configured'
        : `the "${runner.name}" runner backend cannot collect files`;
    throw new KilnError(
      FailureCodes.ARTIFACT_INVALID,
      `job ${spec.jobKey} declares artifacts, but ${missing}`,
    );
  }
  return { workspaceFiles: runner.workspaceFiles, store: artifacts };
}

/** Kiln's own final errors pass through; everything else (the object store, the disk) is infrastructure. */
async function asInfrastructure(what: 'upload' | 'download', body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof KilnError && !isInfrastructureCode(err.code)) throw err;
    if (err instanceof InfrastructureError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    // No `cause`: the job's message would then show only the cause's, without saying what failed.
    throw new InfrastructureError(
      FailureCodes.ARTIFACT_STORE_UNAVAILABLE,
      `artifact ${what} failed: ${reason}`,
    );
  }
}
