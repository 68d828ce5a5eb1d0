/**
 * Seeded randomness: every choice of the simulation comes from a generator derived from the
 * run's seed and the name of what is being decided ("customer", 7, "order", 3), so the same
 * seed gives the same city, the same orders and the same decisions whatever order the
 * asynchronous actors happen to run in.
 */

/** A generator of floats in [0, 1) with helpers; deterministic for its seed. */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number;
  /** A float in [min, max). */
  between(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** An exponentially distributed wait with the given mean (for Poisson arrivals). */
  exponential(mean: number): number;
}

/** 32-bit FNV-1a of a string: turns names into seeds. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** mulberry32: a small, fast, well-distributed 32-bit generator. */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    between: (min, max) => min + next() * (max - min),
    chance: (p) => next() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error("pick from an empty list");
      return items[Math.floor(next() * items.length)]!;
    },
    exponential: (mean) => -Math.log(1 - next()) * mean,
  };
}

/** The generator for one named decision of a run: the same seed and names give the same numbers. */
export function rngFor(seed: number, ...names: (string | number)[]): Rng {
  return createRng(hashString(`${seed}/${names.join("/")}`));
}
