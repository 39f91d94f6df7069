import { createHash } from 'node:crypto';

/** The sha256 of bytes (or UTF-8 text) as lowercase hex: the checksum every manifest records. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** An incremental sha256 over several parts, as hex. */
export function sha256OfParts(parts: Iterable<Uint8Array | string>): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}
