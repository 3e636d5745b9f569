/** Runner worker entry point: launches, awaits, cancels and destroys runners. */
import { runWorker } from './run-worker.ts';

await runWorker(['runner']);
