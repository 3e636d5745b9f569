/** Orchestrator worker entry point: build and job workflows, git and pipeline activities. */
import { runWorker } from './run-worker.ts';

await runWorker(['orchestrator']);
