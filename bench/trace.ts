/**
 * Where does a job's time go? Runs a 3-job chain on the embedded stack and prints, for each job
 * workflow, the offset of every history event from the child's start. `npm run bench:trace`
 */
import { KilnApiClient } from '../cli/api-client.ts';
import { isFinalBuildStatus } from '../shared/build-state.ts';
import { createTestRepo } from '../test/helpers/git-repo.ts';
import { startBenchStack } from './stack.ts';

const repo = createTestRepo({
  '.ci.yaml': `jobs:\n  a: { steps: [{ run: 'true' }] }\n  b: { needs: a, steps: [{ run: 'true' }] }\n  c: { needs: b, steps: [{ run: 'true' }] }\n`,
});
const stack = await startBenchStack([], () => {});
try {
  const api = new KilnApiClient(stack.api.url, stack.config.KILN_API_TOKEN);
  for (let run = 0; run < 2; run++) {
    const { buildId } = await api.startBuild({ cloneUrl: repo.url, ref: 'main' });
    let build = await api.getBuild(buildId);
    while (!isFinalBuildStatus(build.status)) {
      await new Promise((r) => setTimeout(r, 50));
      build = await api.getBuild(buildId);
    }
    console.log(
      `\nbuild ${run + 1}: ${build.status} in ${Date.parse(build.finishedAt!) - Date.parse(build.startedAt!)} ms`,
    );
    const handles = [buildId, ...build.jobs.map((j) => `${buildId}/${j.key}`)];
    for (const id of handles) {
      const history = await stack.api.client.workflow.getHandle(id).fetchHistory();
      const events = history.events ?? [];
      const t0 = Number(events[0]?.eventTime?.seconds ?? 0) * 1000 + (events[0]?.eventTime?.nanos ?? 0) / 1e6;
      const line = events.map((e) => {
        const t = Number(e.eventTime?.seconds ?? 0) * 1000 + (e.eventTime?.nanos ?? 0) / 1e6;
        const type = String(e.eventType ?? '')
          .replace('EVENT_TYPE_', '')
          .toLowerCase();
        const name =
          e.activityTaskScheduledEventAttributes?.activityType?.name ??
          e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId?.split('/').pop() ??
          '';
        return `${Math.round(t - t0)} ${type}${name ? `(${name})` : ''}`;
      });
      console.log(`  ${id.split('/').pop()}: ${line.join(' | ')}`);
    }
  }
} finally {
  await stack.stop();
}
