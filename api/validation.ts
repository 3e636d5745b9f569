import { HTTPException } from 'hono/http-exception';

/**
 * zValidator hook: a failed validation becomes a 400 naming the field and what is wrong, in the
 * same `{ error: { code, message } }` shape as every other error.
 */
export function validationHook(result: {
  success: boolean;
  error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
}): void {
  if (result.success) return;
  const issue = result.error?.issues[0];
  const where = issue?.path.length ? issue.path.map(String).join('.') : 'request';
  throw new HTTPException(400, {
    message: `${where}: ${issue?.message ?? 'invalid'}`,
    cause: { code: 'INVALID_INPUT' },
  });
}
