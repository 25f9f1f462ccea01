// Reproducible pseudo-random bytes for tests (xorshift32).
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const words = Math.floor(n / 4);
  const w = new Uint32Array(out.buffer, 0, words);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = x >>> 0;
  }
  for (let i = words * 4; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}
