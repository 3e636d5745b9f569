/** What a GitHub event asks Kiln to do. */
export type GithubEventDecision =
  | { kind: 'ping' }
  | { kind: 'ignore'; reason: string }
  | {
      kind: 'build';
      repo: string;
      event: 'push' | 'pull_request';
      ref: string;
      sha: string;
      branch?: string;
      tag?: string;
      actor?: string;
      /** A pull request whose head lives in another repository: its jobs get no secrets. */
      fromFork?: boolean;
    };

const ZERO_SHA = /^0{40}$/;
const PR_ACTIONS = new Set(['opened', 'synchronize', 'reopened']);

/** Reads the repository full name of any event payload (to find the project and its secret). */
export function repositoryOf(payload: unknown): string | undefined {
  const name = (payload as { repository?: { full_name?: unknown } } | null)?.repository?.full_name;
  return typeof name === 'string' ? name : undefined;
}

/**
 * Maps a GitHub event to a decision. Pure: no I/O, so every branch is unit-tested. Events Kiln
 * does not build are ignored with a reason GitHub shows in the delivery log.
 */
export function decideGithubEvent(event: string, payload: unknown): GithubEventDecision {
  const p = (payload ?? {}) as Record<string, unknown>;
  const repo = repositoryOf(payload);
  if (event === 'ping') return { kind: 'ping' };
  if (!repo) return { kind: 'ignore', reason: `"${event}" event without repository.full_name` };

  if (event === 'push') {
    const ref = str(p.ref);
    const after = str(p.after);
    if (p.deleted === true || (after && ZERO_SHA.test(after))) {
      return { kind: 'ignore', reason: `push deleting ${ref ?? 'a ref'} starts no build` };
    }
    if (!ref || !after || !/^[0-9a-f]{40}$/.test(after)) {
      return { kind: 'ignore', reason: 'push event without "ref" and a commit sha in "after"' };
    }
    const actor = str((p.pusher as Record<string, unknown> | undefined)?.name) ?? str(senderLogin(p));
    if (ref.startsWith('refs/heads/')) {
      return { kind: 'build', repo, event: 'push', ref, sha: after, branch: ref.slice(11), actor };
    }
    if (ref.startsWith('refs/tags/')) {
      return { kind: 'build', repo, event: 'push', ref, sha: after, tag: ref.slice(10), actor };
    }
    return { kind: 'ignore', reason: `push to ${ref} (neither a branch nor a tag) starts no build` };
  }

  if (event === 'pull_request') {
    const action = str(p.action) ?? '';
    if (!PR_ACTIONS.has(action)) {
      return {
        kind: 'ignore',
        reason: `pull_request action "${action}" starts no build (opened, synchronize and reopened do)`,
      };
    }
    const pr = (p.pull_request ?? {}) as Record<string, unknown>;
    const head = (pr.head ?? {}) as Record<string, unknown>;
    const number = typeof p.number === 'number' ? p.number : pr.number;
    const sha = str(head.sha);
    if (typeof number !== 'number' || !sha) {
      return { kind: 'ignore', reason: 'pull_request event without a number and pull_request.head.sha' };
    }
    const headRepo = str((head.repo as Record<string, unknown> | undefined)?.full_name);
    return {
      kind: 'build',
      repo,
      event: 'pull_request',
      ref: `refs/pull/${number}/head`,
      sha,
      branch: str(head.ref),
      actor: senderLogin(p),
      // A deleted fork has no head.repo: treat it as a fork, never as trusted.
      fromFork: headRepo === undefined || headRepo.toLowerCase() !== repo.toLowerCase(),
    };
  }

  return { kind: 'ignore', reason: `"${event}" events start no build (push and pull_request do)` };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function senderLogin(p: Record<string, unknown>): string | undefined {
  return str((p.sender as Record<string, unknown> | undefined)?.login);
}
