import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Verifies GitHub's `X-Hub-Signature-256` header (`sha256=<hex>`) over the raw request body, in
 * constant time. Returns false for a missing, malformed or wrong signature.
 */
export function verifyGithubSignature(
  secret: string,
  rawBody: Uint8Array,
  header: string | undefined,
): boolean {
  if (!header || !header.startsWith('sha256=')) return false;
  const given = Buffer.from(header.slice('sha256='.length), 'hex');
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  // Buffer.from(hex) drops invalid characters, so a length check also rejects malformed input.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The header value GitHub would send for `body` (used by tests, the CLI and the benchmark). */
export function signGithubPayload(secret: string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
