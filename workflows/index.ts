/** Every workflow Kiln registers; the worker bundles this file once at start. */
export { buildWorkflow } from './build.ts';
export { jobWorkflow } from './job.ts';
export { retentionWorkflow } from './retention.ts';
export { podReaperWorkflow } from './pod-reaper.ts';
