import type { Context } from 'hono';
import { createHash } from 'node:crypto';

/** Bumped when the rendering changes, so old ETags stop matching. */
const RENDER_VERSION = 2;

/**
 * Cache headers for a deterministic response whose bytes are fixed by `key` (the model's sha256, the
 * seed and the options), so the ETag is known before rendering and a client that has the bytes gets a
 * 304 without any work. Only a URL that pins the model's content (`model=<name>@<sha prefix>`) is
 * `immutable`: any other may show other digits after a redeploy, so caches revalidate it (`no-cache`).
 * Returns the ETag and whether the client's copy is fresh.
 */
export function deterministicResponse(c: Context, key: unknown[], pinned: boolean): { etag: string; fresh: boolean } {
  const etag = `"${createHash('sha256')
    .update(JSON.stringify([RENDER_VERSION, ...key]))
    .digest('base64url')
    .slice(0, 27)}"`;
  c.header('ETag', etag);
  c.header('Cache-Control', pinned ? 'public, max-age=31536000, immutable' : 'public, no-cache');
  return {
    etag,
    fresh:
      c.req
        .header('If-None-Match')
        ?.split(',')
        .some((t) => t.trim() === etag || t.trim() === `W/${etag}`) ?? false,
  };
}
