// How much fuzzing a run does. CI runs the base counts (over 50,000 cases in
// all); `npm run fuzz -- --cases N` scales every property to N cases in all.
// GFS_FUZZ_SEED replays a run (each property prints its seed on failure).
export const FUZZ_SCALE = Number(process.env.GFS_FUZZ_SCALE ?? 1);
export const FUZZ_SEED = process.env.GFS_FUZZ_SEED !== undefined ? Number(process.env.GFS_FUZZ_SEED) : Date.now() % 2 ** 31;

export function runs(base: number): number {
  return Math.max(1, Math.round(base * FUZZ_SCALE));
}
