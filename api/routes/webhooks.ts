import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { buildIdForDelivery } from '../../shared/ids.ts';
import type { BuildService } from '../build-service.ts';
import type { ProjectService } from '../project-service.ts';
import type { RateLimiter } from '../../adapters/ratelimit/port.ts';
import { decideGithubEvent, repositoryOf } from '../github/events.ts';
import { verifyGithubSignature } from '../github/signature.ts';

/** GitHub caps webhook payloads at 25 MB. */
const MAX_PAYLOAD_BYTES = 25 * 1024 * 1024;

/**
 * `POST /webhooks/github`. Nothing here waits for git or a runner: verify, decide, start the
 * workflow, answer. The build id derives from `X-GitHub-Delivery`, so a redelivery finds the
 * same build instead of starting another.
 */
export function webhookRoutes(deps: {
  builds: BuildService;
  projects: ProjectService;
  rateLimiter: RateLimiter;
  webhookRatePerMinute: number;
}) {
  const app = new Hono();
  app.post('/github', bodyLimit({ maxSize: MAX_PAYLOAD_BYTES }), async (c) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const event = c.req.header('x-github-event');
    const delivery = c.req.header('x-github-delivery');
    if (!event) throw badRequest('missing X-GitHub-Event header');

    const payload = parsePayload(raw, c.req.header('content-type'));
    const repo = repositoryOf(payload);
    if (!repo) throw badRequest('payload has no repository.full_name');
    await limitFlood(deps, repo.split('/')[0]!.toLowerCase());
    const project = await deps.projects.findByRepo(repo);
    if (!project) {
      throw new HTTPException(404, {
        message: `repository "${repo}" is not a Kiln project; add it to the projects file`,
        cause: { code: 'NOT_FOUND' },
      });
    }
    const secret = await deps.projects.webhookSecret(project);
    if (!secret || !verifyGithubSignature(secret, raw, c.req.header('x-hub-signature-256'))) {
      throw new HTTPException(401, {
        message: 'missing or wrong X-Hub-Signature-256 for this repository',
        cause: { code: 'BAD_SIGNATURE' },
      });
    }

    const decision = decideGithubEvent(event, payload);
    if (decision.kind === 'ping')
      return c.json({ ok: true, message: `pong: ${project.repo} is connected` }, 200);
    if (decision.kind === 'ignore') return c.json({ ignored: true, reason: decision.reason }, 202);
    if (!delivery) throw badRequest('missing X-GitHub-Delivery header');

    const { buildId, number, duplicate } = await deps.builds.startForDelivery(
      { id: delivery, event },
      buildIdForDelivery(delivery),
      {
        projectId: project.id,
        tenant: project.tenant,
        repo: project.repo,
        cloneUrl: project.cloneUrl,
        pipelinePath: project.pipelinePath,
        ref: decision.ref,
        sha: decision.sha,
        branch: decision.branch,
        tag: decision.tag,
        event: decision.event,
        actor: decision.actor,
        fromFork: decision.fromFork ?? false,
      },
    );
    return c.json({ buildId, number, duplicate, url: `/builds/${buildId}` }, duplicate ? 200 : 201);
  });
  return app;
}

/** GitHub sends JSON, or a form with the JSON in a `payload` field, depending on the hook's setting. */
function parsePayload(raw: Uint8Array, contentType: string | undefined): unknown {
  const text = new TextDecoder().decode(raw);
  let json = text;
  if (contentType?.startsWith('application/x-www-form-urlencoded')) {
    const field = new URLSearchParams(text).get('payload');
    if (field === null) throw badRequest('form-encoded webhook without a "payload" field');
    json = field;
  } else if (contentType !== undefined && !contentType.startsWith('application/json')) {
    throw new HTTPException(415, {
      message: `unsupported content type "${contentType}": use application/json or application/x-www-form-urlencoded`,
    });
  }
  try {
    return JSON.parse(json);
  } catch (err) {
    throw badRequest(`payload is not valid JSON: ${(err as Error).message}`);
  }
}

function badRequest(message: string): HTTPException {
  return new HTTPException(400, { message, cause: { code: 'INVALID_INPUT' } });
}

/**
 * One organisation's burst must not drown everyone else's webhooks: a token bucket per owner.
 * If the limiter itself is down, webhooks are let through (GitHub does not resend refused ones).
 */
async function limitFlood(
  deps: { rateLimiter: RateLimiter; webhookRatePerMinute: number },
  organisation: string,
): Promise<void> {
  const decision = await deps.rateLimiter
    .take(`webhooks:${organisation}`, deps.webhookRatePerMinute)
    .catch((err: unknown) => {
      console.error(
        'webhook rate limiter unavailable, letting the delivery through:',
        (err as Error).message,
      );
      return { allowed: true, retryAfterMs: 0 };
    });
  if (decision.allowed) return;
  const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  throw new HTTPException(429, {
    message: `too many webhooks for "${organisation}": at most ${deps.webhookRatePerMinute} a minute; retry in ${seconds}s`,
    cause: { code: 'RATE_LIMITED' },
    res: new Response(null, { headers: { 'retry-after': String(seconds) } }),
  });
}
