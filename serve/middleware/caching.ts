import type { Context } from 'hono';
import { createHash } from 'node:crypto';

/** Bumped when the PNG rendering changes, so old ETags stop matching. */
const RENDER_VERSION = 1;

/**
 * ETag and immutable caching for a deterministic response whose bytes are fixed by `key` (the model's
 * sha256, the seed and the options). The ETag is known before rendering, so a client that already has
 * the bytes gets a 304 without any work. Returns the ETag and whether the client's copy is fresh.
 */
export function immutableResponse(c: Context, key: unknown[]): { etag: string; fresh: boolean } {
  const etag = `"${createHash('sha256')
    .update(JSON.stringify([RENDER_VERSION, ...key]))
    .digest('base64url')
    .slice(0, 27)}"`;
  c.header('ETag', etag);
  c.header('Cache-Control', 'public, max-age=31536000, immutable');
  return {
    etag,
    fresh:
      c.req
        .header('If-None-Match')
        ?.split(',')
        .some((t) => t.trim() === etag) ?? false,
  };
}
