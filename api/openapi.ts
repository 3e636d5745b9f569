/** OpenAPI 3.1 description of the Kiln API, served at `GET /openapi.json`. */

const error = {
  description: 'Error',
  content: {
    'application/json': {
      schema: { $ref: '#/components/schemas/Error' },
    },
  },
};

const buildId = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const projectId = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'Project id',
  schema: { type: 'string' },
};
const secretName = {
  name: 'name',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^[A-Z_][A-Z0-9_]*$' },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Kiln API',
    version: '0.1.0',
    description: 'Start builds from GitHub webhooks or by hand, follow their live state and read job logs.',
  },
  security: [{ bearer: [] }],
  paths: {
    '/healthz': {
      get: {
        summary: 'Liveness and reachability of the workflow engine',
        security: [],
        responses: { '200': { description: 'OK' }, '503': error },
      },
    },
    '/webhooks/github': {
      post: {
        summary: 'GitHub webhook (push, pull_request, ping)',
        security: [],
        parameters: [
          { name: 'X-GitHub-Event', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'X-GitHub-Delivery', in: 'header', required: true, schema: { type: 'string' } },
          { name: 'X-Hub-Signature-256', in: 'header', required: true, schema: { type: 'string' } },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: { type: 'object' } },
            'application/x-www-form-urlencoded': {
              schema: { type: 'object', properties: { payload: { type: 'string' } } },
            },
          },
        },
        responses: {
          '200': { description: 'Ping answered, or a redelivery of a known build (`duplicate: true`)' },
          '201': {
            description: 'Build started',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Started' } } },
          },
          '202': { description: 'Event acknowledged and ignored, with the reason' },
          '400': error,
          '401': error,
          '404': error,
        },
      },
    },
    '/builds': {
      post: {
        summary: 'Start a manual build of a project or of any clone URL',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: {
                  project: { type: 'string', example: 'acme/web' },
                  cloneUrl: { type: 'string', example: 'file:///src/web' },
                  repo: { type: 'string' },
                  ref: { type: 'string', default: 'main' },
                  sha: { type: 'string', pattern: '^[0-9a-f]{40}$' },
                  pipelinePath: { type: 'string', default: '.ci.yaml' },
                },
              },
            },
          },
        },
        responses: {
          '201': {
            description: 'Build started',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Started' } } },
          },
          '400': error,
          '401': error,
          '404': error,
        },
      },
    },
    '/builds/{id}': {
      get: {
        summary: 'Live state of a build and its jobs',
        parameters: [buildId],
        responses: {
          '200': {
            description: 'Build',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Build' } } },
          },
          '401': error,
          '404': error,
        },
      },
    },
    '/builds/{id}/jobs': {
      get: {
        summary: 'The jobs of a build (live while it runs, from the history afterwards)',
        parameters: [buildId],
        responses: {
          '200': {
            description: 'Jobs',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: { jobs: { type: 'array', items: { $ref: '#/components/schemas/Job' } } },
                },
              },
            },
          },
          '401': error,
          '404': error,
        },
      },
    },
    '/projects': {
      get: {
        summary: 'Registered projects (never their webhook secret)',
        responses: { '200': { description: 'Projects' }, '401': error, '503': error },
      },
      post: {
        summary: 'Register a repository; its webhook secret goes to the secret store',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['repo', 'cloneUrl', 'webhookSecret'],
                properties: {
                  repo: { type: 'string', example: 'acme/web' },
                  cloneUrl: { type: 'string' },
                  webhookSecret: { type: 'string', minLength: 16, writeOnly: true },
                  pipelinePath: { type: 'string', default: '.ci.yaml' },
                  tenant: { type: 'string', default: 'default' },
                  weight: { type: 'integer', minimum: 1, default: 1 },
                },
              },
            },
          },
        },
        responses: {
          '201': { description: 'Registered' },
          '400': error,
          '401': error,
          '409': error,
          '503': error,
        },
      },
    },
    '/projects/{id}': {
      get: {
        summary: 'One project (never its webhook secret)',
        parameters: [projectId],
        responses: { '200': { description: 'Project' }, '401': error, '404': error, '503': error },
      },
    },
    '/queue': {
      get: {
        summary: 'Runner queue: per pool and tenant, jobs waiting and running, tokens in use, oldest wait',
        responses: { '200': { description: 'Snapshot' }, '401': error },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics of the runner queue',
        security: [],
        responses: { '200': { description: 'Prometheus text format', content: { 'text/plain': {} } } },
      },
    },
    '/openapi.json': {
      get: { summary: 'This document', security: [], responses: { '200': { description: 'OpenAPI 3.1' } } },
    },
    '/projects/{id}/builds': {
      get: {
        summary: "A project's builds, newest first, keyset paginated",
        parameters: [
          projectId,
          { name: 'branch', in: 'query', schema: { type: 'string' } },
          {
            name: 'status',
            in: 'query',
            schema: {
              type: 'string',
              enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'errored'],
            },
          },
          {
            name: 'event',
            in: 'query',
            schema: { type: 'string', enum: ['push', 'pull_request', 'manual'] },
          },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
          {
            name: 'cursor',
            in: 'query',
            schema: { type: 'string' },
            description: '`nextCursor` of the previous page',
          },
        ],
        responses: {
          '200': { description: '{ builds, nextCursor? }' },
          '400': error,
          '401': error,
          '404': error,
          '503': error,
        },
      },
    },
    '/projects/{id}/secrets': {
      get: {
        summary: "A project's secrets: names and update times only, never values",
        parameters: [projectId],
        responses: {
          '200': { description: '{ secrets: [{ name, updatedAt }] }' },
          '401': error,
          '404': error,
        },
      },
    },
    '/projects/{id}/secrets/{name}': {
      put: {
        summary:
          'Set a secret (write-only); jobs that list it under `secrets:` receive it as an environment variable',
        parameters: [
          projectId,
          {
            name: 'name',
            in: 'path',
            required: true,
            schema: { type: 'string', pattern: '^[A-Z_][A-Z0-9_]*$' },
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['value'],
                properties: { value: { type: 'string', writeOnly: true } },
              },
            },
          },
        },
        responses: {
          '200': { description: '{ name, updatedAt }' },
          '400': error,
          '401': error,
          '404': error,
          '503': error,
        },
      },
      delete: {
        summary: 'Delete a secret (idempotent)',
        parameters: [projectId, secretName],
        responses: { '204': { description: 'Deleted' }, '401': error, '404': error },
      },
    },
    '/projects/{id}/badge.svg': {
      get: {
        summary: 'Status badge of the latest build (public)',
        security: [],
        parameters: [projectId, { name: 'branch', in: 'query', schema: { type: 'string' } }],
        responses: { '200': { description: 'SVG', content: { 'image/svg+xml': {} } }, '404': error },
      },
    },
    '/builds/{id}/cancel': {
      post: {
        summary: 'Cancel a build: running jobs are killed, pending ones skipped',
        parameters: [buildId],
        responses: {
          '202': { description: 'Cancellation requested; the current state' },
          '401': error,
          '404': error,
        },
      },
    },
    '/builds/{id}/jobs/{job}/logs': {
      get: {
        summary: "A job attempt's log as plain text, streamed; or followed live as Server-Sent Events",
        description:
          'With `follow=1` the answer is an event stream: every line is an event whose `id` is its seq and ' +
          'whose data is JSON `{seq, ts, stream, text}`, and an `end` event (data `{lastSeq}`) closes the ' +
          'stream once the attempt is over. A client that reconnects with `Last-Event-ID` gets the lines ' +
          "after that seq, none twice. Without `attempt`, the job's current attempt is followed.",
        parameters: [
          buildId,
          { name: 'job', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'attempt', in: 'query', schema: { type: 'integer', minimum: 1 } },
          { name: 'timestamps', in: 'query', schema: { type: 'string', enum: ['0', '1'] } },
          { name: 'follow', in: 'query', schema: { type: 'string', enum: ['0', '1'] } },
          { name: 'Last-Event-ID', in: 'header', schema: { type: 'string', pattern: '^[0-9]+$' } },
        ],
        responses: {
          '200': {
            description: 'Log text, or with `follow=1` an event stream of lines then `end`',
            content: {
              'text/plain': { schema: { type: 'string' } },
              'text/event-stream': { schema: { type: 'string' } },
            },
          },
          '400': error,
          '401': error,
          '404': error,
          '501': error,
        },
      },
    },
    '/builds/{id}/artifacts': {
      get: {
        summary: "The files a build's jobs kept (`artifacts:`), with their hashes and download URLs",
        parameters: [buildId],
        responses: {
          '200': {
            description: 'Every kept file, by job then path',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    artifacts: { type: 'array', items: { $ref: '#/components/schemas/Artifact' } },
                  },
                },
              },
            },
          },
          '401': error,
          '404': error,
          '501': error,
        },
      },
    },
    '/builds/{id}/artifacts/{path}': {
      get: {
        summary: "One artifact's content, streamed from the object store",
        description:
          'The path may contain slashes. `ETag` is the quoted SHA-256 of the content; `If-None-Match` answers ' +
          '304, `Range: bytes=start-end` (one range) answers 206, or 416 beyond the end. When several jobs ' +
          'kept the same path, `job` picks one (409 otherwise). Expired artifacts answer 410.',
        parameters: [
          buildId,
          { name: 'path', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'job', in: 'query', schema: { type: 'string' } },
          { name: 'Range', in: 'header', schema: { type: 'string', example: 'bytes=0-1023' } },
          { name: 'If-None-Match', in: 'header', schema: { type: 'string' } },
        ],
        responses: {
          '200': { description: 'The whole file', content: { 'application/octet-stream': {} } },
          '206': { description: 'The range asked for', content: { 'application/octet-stream': {} } },
          '304': { description: 'Not modified (the ETag matched)' },
          '401': error,
          '404': error,
          '409': error,
          '410': error,
          '416': { description: 'Range not satisfiable' },
          '501': error,
        },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    schemas: {
      Artifact: {
        type: 'object',
        required: ['job', 'path', 'size', 'sha256', 'mode', 'expiresAt', 'expired', 'url'],
        properties: {
          job: { type: 'string' },
          path: { type: 'string' },
          size: { type: 'integer' },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          mode: { type: 'integer', description: 'Permission bits (e.g. 493 = 0o755)' },
          expiresAt: { type: ['string', 'null'], format: 'date-time' },
          expired: { type: 'boolean' },
          url: { type: 'string', description: 'Download URL, relative to the API root' },
        },
      },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            required: ['code', 'message'],
            properties: { code: { type: 'string' }, message: { type: 'string' } },
          },
        },
      },
      Started: {
        type: 'object',
        properties: { buildId: { type: 'string' }, duplicate: { type: 'boolean' }, url: { type: 'string' } },
      },
      Job: {
        type: 'object',
        properties: {
          key: { type: 'string' },
          name: { type: 'string' },
          needs: { type: 'array', items: { type: 'string' } },
          status: {
            type: 'string',
            enum: [
              'pending',
              'queued',
              'running',
              'succeeded',
              'failed',
              'timed_out',
              'errored',
              'cancelled',
              'skipped',
            ],
          },
          attempt: { type: 'integer' },
          runnerId: { type: 'string' },
          startedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time' },
          exitCode: { type: 'integer' },
          failureCode: { type: 'string' },
          failedStep: { type: 'string' },
          message: { type: 'string' },
        },
      },
      Build: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          repo: { type: 'string' },
          ref: { type: 'string' },
          branch: { type: 'string' },
          tag: { type: 'string' },
          commitSha: { type: 'string' },
          event: { type: 'string' },
          status: {
            type: 'string',
            enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'errored'],
          },
          createdAt: { type: 'string', format: 'date-time' },
          startedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time' },
          problems: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                file: { type: 'string' },
                line: { type: 'integer' },
                col: { type: 'integer' },
                message: { type: 'string' },
              },
            },
          },
          jobs: { type: 'array', items: { $ref: '#/components/schemas/Job' } },
        },
      },
    },
  },
} as const;
