/**
 * Source control as Kiln needs it. Implementations keep one bare mirror per clone URL and fetch
 * into it, so a build never clones over the network per job.
 */
export interface Vcs {
  /** Fetches `ref` (branch, tag, full ref or sha) into the mirror and returns the commit sha. */
  resolve(cloneUrl: string, ref: string): Promise<string>;
  /** Contents of `path` at `sha`, or `undefined` when the commit has no such file. Fetches if needed. */
  readFile(cloneUrl: string, sha: string, path: string): Promise<string | undefined>;
  /** Creates `dir` holding the work tree of `sha` (cheaply, from the mirror). */
  checkout(cloneUrl: string, sha: string, dir: string): Promise<void>;
}
