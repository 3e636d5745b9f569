/**
 * Tells a running build about a job from outside its workflows (an activity waiting in the runner
 * queue, for instance). Best effort: a build that already ended is not an error.
 */
export interface BuildNotifier {
  jobQueued(buildWorkflowId: string, progress: { key: string; position: number }): Promise<void>;
}
