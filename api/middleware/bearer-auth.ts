import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';

export interface BearerAuthOptions {
  /** The token clients must send as `Authorization: Bearer <token>`. */
  token: string;
}

/** Requires the configured bearer token, compared in constant time (hashes have equal length). */
export function bearerAuth(options: BearerAuthOptions): MiddlewareHandler {
  const expected = createHash('sha256').update(options.token).digest();
  return async function requireBearerToken(c, next) {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    if (!match || !timingSafeEqual(given, expected)) {
      throw new HTTPException(401, {
        message: 'missing or wrong bearer token: send "Authorization: Bearer <KILN_API_TOKEN>"',
        cause: { code: 'UNAUTHORIZED' },
      });
    }
    await next();
  };
}
