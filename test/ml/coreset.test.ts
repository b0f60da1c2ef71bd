// The greedy k-center coreset: the pruned search returns exactly what the plain algorithm returns.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/ml/data';
import { kCenterGreedy } from '../../src/ml/sampling/coreset';

/** The textbook algorithm: every round, every point's distance to the newest centre. */
function plainGreedy(points: Float32Array, d: number, k: number): number[] {
  const n = points.length / d;
  const minD = new Float64Array(n).fill(Infinity);
  const out = [0];
  let cur = 0;
  while (out.length < Math.min(k, n)) {
    let best = -1;
    let bestD = -1;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const v = points[i * d + j] - points[cur * d + j];
        s += v * v;
      }
      if (s < minD[i]) minD[i] = s;
      if (minD[i] > bestD) {
        bestD = minD[i];
        best = i;
      }
    }
    out.push(best);
    cur = best;
  }
  return out;
}

function clustered(n: number, d: number, clusters: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const centres = Float32Array.from({ length: clusters * d }, () => rng.next() * 10);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters);
    for (let j = 0; j < d; j++) out[i * d + j] = centres[c * d + j] + rng.next();
  }
  return out;
}

describe('kCenterGreedy', () => {
  it.each([
    [2000, 8, 20, 100],
    [1500, 32, 5, 300],
    [500, 3, 50, 499],
  ])('equals the plain greedy on %i points in %i-d (%i clusters, k=%i)', (n, d, clusters, k) => {
    const pts = clustered(n, d, clusters, n + d);
    expect(Array.from(kCenterGreedy(pts, d, k))).toEqual(plainGreedy(pts, d, k));
  });

  it('covers: no point is farther from its centre than the last centre chosen was', () => {
    const d = 4;
    const pts = clustered(3000, d, 30, 9);
    const chosen = kCenterGreedy(pts, d, 60);
    const dist = (i: number, j: number) => {
      let s = 0;
      for (let t = 0; t < d; t++) s += (pts[i * d + t] - pts[j * d + t]) ** 2;
      return Math.sqrt(s);
    };
    const last = chosen[chosen.length - 1];
    const radiusWhenChosen = Math.min(...Array.from(chosen.slice(0, -1), (c) => dist(last, c)));
    for (let i = 0; i < 3000; i++) {
      const r = Math.min(...Array.from(chosen, (c) => dist(i, c)));
      expect(r).toBeLessThanOrEqual(radiusWhenChosen + 1e-9);
    }
  });

  it('returns every point when k >= n, and refuses rows that do not divide', () => {
    const pts = clustered(7, 2, 2, 1);
    expect(new Set(kCenterGreedy(pts, 2, 50)).size).toBe(7);
    expect(() => kCenterGreedy(new Float32Array(7), 2, 3)).toThrow(/rows of 2/);
  });

  it('stops when cancelled', () => {
    const ac = new AbortController();
    ac.abort();
    expect(() => kCenterGreedy(clustered(100, 2, 3, 2), 2, 10, { signal: ac.signal })).toThrow(/cancelled/);
  });
});
