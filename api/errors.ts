import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { KilnError } from '../shared/errors.ts';

/** The one shape every API error has. */
export interface ErrorBody {
  error: { code: string; message: string };
}

export function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

const STATUS_BY_CODE: Record<string, ContentfulStatusCode> = {
  NOT_FOUND: 404,
  INVALID_INPUT: 400,
  PROJECT_EXISTS: 409,
  STORE_UNAVAILABLE: 503,
  SECRET_STORE_UNAVAILABLE: 503,
  SECRET_ACCESS_DENIED: 403,
  SECRET_NOT_FOUND: 404,
};

/**
 * Maps every error to `{ error: { code, message } }` and a status, in one place. Unexpected
 * errors become 500 without internals; an unreachable Temporal server becomes 503.
 */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof HTTPException) {
    const code = (err.cause as { code?: string } | undefined)?.code ?? httpCode(err.status);
    // Headers an exception carries (Retry-After on 429) survive the JSON body.
    const headers = err.res ? Object.fromEntries(err.res.headers) : undefined;
    return c.json(errorBody(code, err.message), err.status as ContentfulStatusCode, headers);
  }
  if (err instanceof KilnError) {
    return c.json(errorBody(err.code, err.message), STATUS_BY_CODE[err.code] ?? 500);
  }
  if (isUnavailable(err)) {
    return c.json(errorBody('UNAVAILABLE', 'the workflow engine is unreachable; try again shortly'), 503);
  }
  console.error('unexpected API error', err);
  return c.json(errorBody('INTERNAL', 'internal error'), 500);
}

function httpCode(status: number): string {
  if (status === 400) return 'INVALID_INPUT';
  if (status === 401) return 'UNAUTHORIZED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 413) return 'PAYLOAD_TOO_LARGE';
  if (status === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (status === 429) return 'RATE_LIMITED';
  return `HTTP_${status}`;
}

/** gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4) from the Temporal client. */
function isUnavailable(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 14 || code === 4 || /UNAVAILABLE|ECONNREFUSED/.test(err.message);
}
