import { compilePipeline, missingPipelineProblem } from '../shared/pipeline/index.ts';
import type { CompileResult, PipelineContext } from '../shared/pipeline/types.ts';
import type { Vcs } from '../adapters/vcs/port.ts';
import { withFailureCodes } from './failures.ts';

export interface LoadPipelineInput {
  cloneUrl: string;
  ref: string;
  sha?: string;
  pipelinePath: string;
  context: PipelineContext;
}

export interface LoadPipelineOutput {
  sha: string;
  result: CompileResult;
}

/** Activities that read the repository: fetch the commit and compile its pipeline file. */
export function createPipelineActivities(ports: { vcs: Vcs }) {
  return {
    /**
     * Resolves the commit (fetching into the project's mirror), reads the pipeline file at that
     * exact sha and compiles it. An invalid or missing pipeline is a result, not a failure: the
     * build ends `errored` with every problem listed.
     */
    async loadPipeline(input: LoadPipelineInput): Promise<LoadPipelineOutput> {
      return withFailureCodes(async () => {
        const sha = input.sha ?? (await ports.vcs.resolve(input.cloneUrl, input.ref));
        const source = await ports.vcs.readFile(input.cloneUrl, sha, input.pipelinePath);
        if (source === undefined) {
          return { sha, result: { ok: false, problems: [missingPipelineProblem(input.pipelinePath, sha)] } };
        }
        return { sha, result: compilePipeline(source, input.pipelinePath, input.context) };
      });
    },
  };
}
