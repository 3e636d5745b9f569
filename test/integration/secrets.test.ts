import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultSecretStore } from '../../adapters/secrets/vault-secrets.ts';
import { configureVault, ORCHESTRATOR_POLICY_NAME } from '../../adapters/secrets/vault-setup.ts';
import { signGithubPayload } from '../../api/github/signature.ts';
import { startOpenBao, type RunningOpenBao } from '../../infra/dev/openbao.ts';
import { createTestRepo, type TestRepo } from '../helpers/git-repo.ts';
import { startHarness, type Harness } from '../helpers/kiln-harness.ts';

const SECRET_VALUE = 'tok-9f8e7d6c5b4a-s3cr3t';
const WEBHOOK = 'secrets-webhook-secret';
let bao: RunningOpenBao;
let kiln: Harness;
let repo: TestRepo & { sha: string };
let projectId: string;

beforeAll(async () => {
  bao = await startOpenBao();
  await configureVault({ address: bao.address, token: bao.rootToken });
  const res = await fetch(`${bao.address}/v1/auth/token/create`, {
    method: 'POST',
    headers: { 'X-Vault-Token': bao.rootToken },
    body: JSON.stringify({ policies: [ORCHESTRATOR_POLICY_NAME], ttl: '1h' }),
  });
  const token = ((await res.json()) as { auth: { client_token: string } }).auth.client_token;
  repo = createTestRepo({
    '.ci.yaml': `
jobs:
  deploy:
    secrets: [DEPLOY_TOKEN]
    retries: 1
    steps:
      - run: 'test "$DEPLOY_TOKEN" = "${SECRET_VALUE}" && echo "token=$DEPLOY_TOKEN" && printf %s "$DEPLOY_TOKEN" | base64'
  lint: { steps: [{ run: 'echo "no secret: [$DEPLOY_TOKEN]"' }] }
`,
  });
  kiln = await startHarness({
    secrets: new VaultSecretStore({ address: bao.address, token }),
    settings: { infraRetryBackoffMs: 100 },
    projects: [
      { repo: 'acme/secrets', cloneUrl: repo.url, webhookSecret: WEBHOOK, pipelinePath: '.ci.yaml' },
    ],
  });
  const { projects } = (await (await kiln.api('/projects')).json()) as {
    projects: { id: string; repo: string }[];
  };
  projectId = projects.find((p) => p.repo === 'acme/secrets')!.id;
}, 60_000);
afterAll(async () => {
  await kiln?.stop();
  await bao?.stop();
});

async function manualBuild(): Promise<string> {
  const res = await kiln.api('/builds', {
    method: 'POST',
    body: JSON.stringify({ project: 'acme/secrets' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { buildId: string }).buildId;
}

describe('job secrets from Vault (OpenBao)', () => {
  it('fails a job whose declared secret does not exist, at once and naming it', async () => {
    const id = await manualBuild();
    const build = await kiln.waitFor(id);
    const deploy = build.jobs.find((j) => j.key === 'deploy')!;
    expect(deploy).toMatchObject({ status: 'failed', failureCode: 'SECRET_NOT_FOUND', attempt: 1 });
    expect(deploy.message).toContain('DEPLOY_TOKEN');
    expect(build.jobs.find((j) => j.key === 'lint')!.status).toBe('succeeded');
  });

  it('stores values write-only and gives a job exactly what it declares, never through history', async () => {
    const put = await kiln.api(`/projects/${projectId}/secrets/DEPLOY_TOKEN`, {
      method: 'PUT',
      body: JSON.stringify({ value: SECRET_VALUE }),
    });
    expect(put.status).toBe(200);
    const listed = await (await kiln.api(`/projects/${projectId}/secrets`)).text();
    expect(listed).toContain('DEPLOY_TOKEN');
    expect(listed).not.toContain(SECRET_VALUE);

    const id = await manualBuild();
    const build = await kiln.waitFor(id);
    expect(build.jobs.map((j) => [j.key, j.status])).toEqual([
      ['deploy', 'succeeded'],
      ['lint', 'succeeded'],
    ]);
    const lintLog = await (await kiln.api(`/builds/${id}/jobs/lint/logs`)).text();
    expect(lintLog).toContain('no secret: []');
    // Printed plainly or base64-encoded, the value is masked before it is written anywhere.
    const deployLog = await (await kiln.api(`/builds/${id}/jobs/deploy/logs`)).text();
    expect(deployLog).toContain('token=***');
    expect(deployLog).not.toContain(SECRET_VALUE);
    expect(deployLog).not.toContain(Buffer.from(SECRET_VALUE).toString('base64'));

    // Neither the build's nor the jobs' Temporal histories carry the value.
    for (const workflowId of [id, `${id}/deploy`, `${id}/lint`]) {
      const history = await kiln.client.workflow.getHandle(workflowId).fetchHistory();
      const text = JSON.stringify(history);
      expect(text).not.toContain(SECRET_VALUE);
      expect(text).not.toContain(Buffer.from(SECRET_VALUE).toString('base64'));
    }
  });

  it('skips jobs that declare secrets on pull requests from forks', async () => {
    const body = JSON.stringify({
      action: 'opened',
      number: 9,
      pull_request: {
        number: 9,
        head: { sha: repo.sha, ref: 'evil', repo: { full_name: 'mallory/secrets' } },
      },
      repository: { full_name: 'acme/secrets' },
    });
    repo.git('update-ref', 'refs/pull/9/head', repo.sha);
    const res = await kiln.app.request('/webhooks/github', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'pull_request',
        'x-github-delivery': randomUUID(),
        'x-hub-signature-256': signGithubPayload(WEBHOOK, body),
      },
      body,
    });
    expect(res.status).toBe(201);
    const build = await kiln.waitFor(((await res.json()) as { buildId: string }).buildId);
    const deploy = build.jobs.find((j) => j.key === 'deploy')!;
    expect(deploy.status).toBe('skipped');
    expect(deploy.message).toContain('forks');
    expect(build.jobs.find((j) => j.key === 'lint')!.status).toBe('succeeded');
    expect(build.status).toBe('succeeded');
  });

  it('treats Vault being down as an infrastructure failure: retried, then errored with a clear message', async () => {
    await bao.stop();
    const id = await manualBuild();
    const build = await kiln.waitFor(id);
    const deploy = build.jobs.find((j) => j.key === 'deploy')!;
    expect(deploy).toMatchObject({ status: 'errored', failureCode: 'SECRET_STORE_UNAVAILABLE', attempt: 2 });
    expect(deploy.message).toMatch(/retries exhausted.*Vault/);
  });
});
