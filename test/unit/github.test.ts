import { describe, expect, it } from 'vitest';
import { decideGithubEvent } from '../../api/github/events.ts';
import { signGithubPayload, verifyGithubSignature } from '../../api/github/signature.ts';

const body = new TextEncoder().encode('{"hello":"world"}');

describe('verifyGithubSignature', () => {
  it('accepts the signature GitHub computes', () => {
    // Known vector: HMAC-SHA256("It's a Secret to Everybody", "Hello, World!") from GitHub's docs.
    const vector = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(
      verifyGithubSignature("It's a Secret to Everybody", new TextEncoder().encode('Hello, World!'), vector),
    ).toBe(true);
    expect(verifyGithubSignature('s3cret', body, signGithubPayload('s3cret', body))).toBe(true);
  });

  it('rejects missing, malformed, truncated and wrong signatures', () => {
    const good = signGithubPayload('s3cret', body);
    for (const header of [
      undefined,
      '',
      'sha1=abc',
      'sha256=',
      'sha256=zz',
      good.slice(0, -2),
      signGithubPayload('other', body),
    ]) {
      expect(verifyGithubSignature('s3cret', body, header)).toBe(false);
    }
    expect(verifyGithubSignature('s3cret', new TextEncoder().encode('{"hello":"World"}'), good)).toBe(false);
  });
});

describe('decideGithubEvent', () => {
  const repository = { full_name: 'acme/web' };
  const sha = 'a'.repeat(40);

  it('builds pushes to branches and tags', () => {
    expect(
      decideGithubEvent('push', { ref: 'refs/heads/main', after: sha, repository, pusher: { name: 'me' } }),
    ).toEqual({
      kind: 'build',
      repo: 'acme/web',
      event: 'push',
      ref: 'refs/heads/main',
      sha,
      branch: 'main',
      actor: 'me',
    });
    expect(decideGithubEvent('push', { ref: 'refs/tags/v1.2', after: sha, repository })).toMatchObject({
      kind: 'build',
      tag: 'v1.2',
    });
  });

  it('ignores deletions with a reason', () => {
    expect(
      decideGithubEvent('push', { ref: 'refs/heads/x', after: '0'.repeat(40), deleted: true, repository }),
    ).toEqual({
      kind: 'ignore',
      reason: 'push deleting refs/heads/x starts no build',
    });
  });

  it('builds pull requests opened, synchronized and reopened, and ignores other actions', () => {
    for (const action of ['opened', 'synchronize', 'reopened']) {
      expect(
        decideGithubEvent('pull_request', {
          action,
          number: 5,
          pull_request: { head: { sha, ref: 'feat' } },
          repository,
        }),
      ).toMatchObject({ kind: 'build', event: 'pull_request', ref: 'refs/pull/5/head', sha, branch: 'feat' });
    }
    expect(decideGithubEvent('pull_request', { action: 'labeled', number: 5, repository })).toMatchObject({
      kind: 'ignore',
    });
  });

  it('answers ping and ignores everything else', () => {
    expect(decideGithubEvent('ping', { repository })).toEqual({ kind: 'ping' });
    expect(decideGithubEvent('release', { repository })).toEqual({
      kind: 'ignore',
      reason: '"release" events start no build (push and pull_request do)',
    });
    expect(decideGithubEvent('push', { ref: 'refs/heads/main', after: 'nope', repository })).toMatchObject({
      kind: 'ignore',
    });
  });
});
