import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';

/** SHA-256 (lowercase hex) and byte count of a stream, read to its end without keeping it. */
export async function digestStream(body: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    const bytes = chunk as Buffer;
    hash.update(bytes);
    size += bytes.length;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * A pass-through that hashes what flows and fails at the end, before the consumer sees the end of
 * the stream, when the bytes are not the expected ones: a reader (an upload, a file write) then
 * never completes with wrong content.
 */
export function verifyingStream(expected: { sha256: string; size: number }, what: string): Transform {
  const hash = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      const sha256 = hash.digest('hex');
      if (sha256 === expected.sha256 && size === expected.size) return callback();
      callback(
        new Error(
          `${what}: content changed (expected ${expected.size} bytes with sha256 ${expected.sha256}, got ${size} bytes with ${sha256})`,
        ),
      );
    },
  });
}
