import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signGithubPayload } from '../../api/github/signature.ts';
import { buildIdForDelivery } from '../../shared/ids.ts';
import { createTestRepo, type TestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';

const SECRET = 'webhook-secret-for-tests';
let kiln: Harness;
let repo: TestRepo & { sha: string };

beforeAll(async () => {
  repo = createTestRepo({
    '.ci.yaml': `jobs:\n  hello: { steps: [{ run: 'echo hello from $KILN_REF' }] }\n`,
  });
  kiln = await startHarness({
    projects: [{ repo: 'acme/widgets', cloneUrl: repo.url, webhookSecret: SECRET, pipelinePath: '.ci.yaml' }],
  });
});
afterAll(async () => kiln?.stop());

function deliver(
  event: string,
  payload: unknown,
  options: { delivery?: string; secret?: string | null; form?: boolean } = {},
): Promise<Response> {
  const json = JSON.stringify(payload);
  const body = options.form ? new URLSearchParams({ payload: json }).toString() : json;
  const headers: Record<string, string> = {
    'content-type': options.form ? 'application/x-www-form-urlencoded' : 'application/json',
    'x-github-event': event,
    'x-github-delivery': options.delivery ?? randomUUID(),
  };
  if (options.secret !== null)
    headers['x-hub-signature-256'] = signGithubPayload(options.secret ?? SECRET, body);
  return Promise.resolve(kiln.app.request('/webhooks/github', { method: 'POST', headers, body }));
}

const push = (sha: string, extra: Record<string, unknown> = {}) => ({
  ref: 'refs/heads/main',
  after: sha,
  repository: { full_name: 'acme/widgets' },
  pusher: { name: 'octocat' },
  ...extra,
});

async function workflowExists(buildId: string): Promise<boolean> {
  try {
    await kiln.client.workflow.getHandle(buildId).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

describe('POST /webhooks/github', () => {
  it('starts a build of the pushed commit, and a redelivery returns the same build', async () => {
    const delivery = randomUUID();
    const first = await deliver('push', push(repo.sha), { delivery });
    expect(first.status).toBe(201);
    const { buildId } = (await first.json()) as { buildId: string };
    expect(buildId).toBe(buildIdForDelivery(delivery));

    const again = await deliver('push', push(repo.sha), { delivery });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ buildId, duplicate: true });

    const build = await kiln.waitFor(buildId);
    expect(build).toMatchObject({
      status: 'succeeded',
      event: 'push',
      branch: 'main',
      commitSha: repo.sha,
      actor: 'octocat',
    });
    const log = await (await kiln.api(`/builds/${buildId}/jobs/hello/logs`)).text();
    expect(log).toContain('hello from refs/heads/main');
  });

  it('rejects a missing or wrong signature with 401 and starts nothing', async () => {
    for (const secret of [null, 'not-the-secret']) {
      const delivery = randomUUID();
      const res = await deliver('push', push(repo.sha), { delivery, secret });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BAD_SIGNATURE');
      expect(await workflowExists(buildIdForDelivery(delivery))).toBe(false);
    }
  });

  it('accepts the form-encoded content type', async () => {
    const res = await deliver('push', push(repo.sha), { form: true });
    expect(res.status).toBe(201);
  });

  it('builds the head commit of an opened pull request', async () => {
    const headSha = repo.commit({ 'feature.txt': 'x' }, 'feature');
    repo.git('update-ref', 'refs/pull/7/head', headSha);
    const res = await deliver('pull_request', {
      action: 'opened',
      number: 7,
      pull_request: { number: 7, head: { sha: headSha, ref: 'feature' } },
      repository: { full_name: 'acme/widgets' },
      sender: { login: 'hubot' },
    });
    expect(res.status).toBe(201);
    const { buildId } = (await res.json()) as { buildId: string };
    const build = await kiln.waitFor(buildId);
    expect(build).toMatchObject({
      status: 'succeeded',
      event: 'pull_request',
      commitSha: headSha,
      ref: 'refs/pull/7/head',
    });
  });

  it('answers ping, and acknowledges other events and deletions without a build', async () => {
    const ping = await deliver('ping', { zen: 'hi', repository: { full_name: 'acme/widgets' } });
    expect(ping.status).toBe(200);

    const cases: [string, unknown, string][] = [
      ['push', push('0'.repeat(40), { deleted: true }), 'starts no build'],
      [
        'issues',
        { action: 'opened', repository: { full_name: 'acme/widgets' } },
        '"issues" events start no build',
      ],
      [
        'pull_request',
        { action: 'closed', number: 1, repository: { full_name: 'acme/widgets' } },
        '"closed"',
      ],
    ];
    for (const [event, payload, reason] of cases) {
      const delivery = randomUUID();
      const res = await deliver(event, payload, { delivery });
      expect(res.status).toBe(202);
      expect(((await res.json()) as { reason: string }).reason).toContain(reason);
      expect(await workflowExists(buildIdForDelivery(delivery))).toBe(false);
    }
  });

  it('answers 404 for an unknown repository and 400 for malformed payloads', async () => {
    const unknown = await deliver('push', { ...push(repo.sha), repository: { full_name: 'acme/nope' } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain('acme/nope');

    const res = await Promise.resolve(
      kiln.app.request('/webhooks/github', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'push' },
        body: '{not json',
      }),
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toContain('not valid JSON');
  });
});

describe('API authentication and validation', () => {
  it('requires the bearer token on /builds', async () => {
    const res = await Promise.resolve(kiln.app.request('/builds/anything'));
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
  });

  it('rejects a malformed manual build naming the field', async () => {
    const res = await kiln.api('/builds', {
      method: 'POST',
      body: JSON.stringify({ cloneUrl: repo.url, sha: 'xyz' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/^sha: /);
  });
});
