import { expected } from './expected.ts';

/**
 * The seeded generator of the sample inputs a conversion is checked on: sfc32 (Chris Doty-Humphrey's
 * Small Fast Counter, 32-bit integer maths, exact in every JS engine) with Box-Muller normals. The same
 * algorithm and seeding as ganforge's shared/prng.ts, so a seed gives the same samples as before the
 * converter became a package.
 */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  /** Seeds the generator from a uint32; the same seed always gives the same sequence. */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw expected('integer between 0 and 4294967295', 'seed', seed);
    // Seeding as recommended by sfc32's author: fixed words, the seed as the counter, 12 warm-up rounds.
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform uint32. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    return t >>> 0;
  }

  /** A uniform number in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 4294967296) throw expected('integer between 1 and 4294967296', 'n', n);
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextUint32();
    while (x >= limit) x = this.nextUint32();
    return x % n;
  }

  /** A standard normal sample (Box-Muller; each pair of uniforms gives two normals). */
  nextNormal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    // 1 - u keeps the logarithm's argument in (0, 1].
    const u = 1 - this.nextFloat();
    const v = this.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` (or a new array of `length`) with standard normals. */
  normals(length: number, out: Float32Array = new Float32Array(length)): Float32Array {
    for (let i = 0; i < length; i++) out[i] = this.nextNormal();
    return out;
  }
}
