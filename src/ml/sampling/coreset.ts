// The greedy k-center coreset (Sener & Savarese 2018, used by PatchCore, Roth et al. 2022): repeatedly add the
// point farthest from every point chosen so far, so a few percent of the training patches cover all of them.
// The plain algorithm costs k passes over all n points; this one is exact but skips most of that work with the
// triangle inequality: every point belongs to the group of its nearest chosen centre, and a new centre c can
// only take a point p from group a if |c - a| < 2 |p - a|, so a group whose radius is less than half its
// distance to c is not even looked at. The result equals the plain algorithm's (test/ml/coreset.test.ts).

export interface CoresetOptions {
  /** Index of the first centre. Default 0 (deterministic). */
  start?: number;
  /** Called every so often with the number of centres chosen so far. */
  onProgress?: (chosen: number) => void;
  /** Checked between centres; a cancelled search throws. */
  signal?: AbortSignal;
  /** Told, at the end, the covering radius: the largest distance of any point to its nearest centre. */
  onRadius?: (radius: number) => void;
}

/** Squared Euclidean distance between row i of `a` and row j of `b` (both with `d` columns). */
function dist2(a: Float32Array, i: number, b: Float32Array, j: number, d: number): number {
  let s = 0;
  const oa = i * d;
  const ob = j * d;
  for (let k = 0; k < d; k++) {
    const v = a[oa + k] - b[ob + k];
    s += v * v;
  }
  return s;
}

/**
 * Choose `k` rows of `points` ([n, d], row-major) by greedy k-center selection; returns their indices in the
 * order chosen. With k >= n every row is returned.
 */
export function kCenterGreedy(
  points: Float32Array,
  d: number,
  k: number,
  opts: CoresetOptions = {},
): Int32Array {
  const n = points.length / d;
  if (!Number.isInteger(n))
    throw new RangeError(`kCenterGreedy: ${points.length} values are not rows of ${d}`);
  k = Math.min(k, n);
  const chosen = new Int32Array(k);
  if (k === 0) return chosen;
  const minD = new Float64Array(n);
  const start = opts.start ?? 0;
  // Groups: the members of each centre, the largest distance of a member (radius) and which member it is.
  const members: Int32Array[] = [];
  const radius: number[] = [];
  const farthest: number[] = [];
  const centres = new Float32Array(k * d);

  const addCentre = (p: number, j: number) => {
    chosen[j] = p;
    centres.set(points.subarray(p * d, (p + 1) * d), j * d);
  };
  addCentre(start, 0);
  {
    let r = -1;
    let far = start;
    for (let i = 0; i < n; i++) {
      const v = dist2(points, i, points, start, d);
      minD[i] = v;
      if (v > r) {
        r = v;
        far = i;
      }
    }
    members.push(Int32Array.from({ length: n }, (_, i) => i));
    radius.push(r);
    farthest.push(far);
  }
  const taken: number[] = [];
  for (let j = 1; j < k; j++) {
    if (opts.signal?.aborted) throw new Error('coreset selection cancelled');
    // The next centre: the point farthest from its nearest centre (first group wins ties, as argmax does).
    let best = 0;
    for (let a = 1; a < radius.length; a++) if (radius[a] > radius[best]) best = a;
    const p = farthest[best];
    addCentre(p, j);
    taken.length = 0;
    for (let a = 0; a < j; a++) {
      // |c - a|^2 >= 4 r_a^2 (radius holds squared distances): no member of a is closer to c.
      const ca = dist2(centres, j, centres, a, d);
      if (ca >= 4 * radius[a]) continue;
      const m = members[a];
      let keep = 0;
      let r = -1;
      let far = -1;
      for (let t = 0; t < m.length; t++) {
        const i = m[t];
        const v = dist2(points, i, centres, j, d);
        if (v < minD[i]) {
          minD[i] = v;
          taken.push(i);
        } else {
          m[keep++] = i;
          if (minD[i] > r) {
            r = minD[i];
            far = i;
          }
        }
      }
      if (keep < m.length) {
        members[a] = m.subarray(0, keep);
        radius[a] = keep ? r : -1;
        farthest[a] = far;
      }
    }
    const mine = Int32Array.from(taken);
    let r = -1;
    let far = p;
    for (const i of mine) {
      if (minD[i] > r) {
        r = minD[i];
        far = i;
      }
    }
    members.push(mine);
    radius.push(r);
    farthest.push(far);
    if (opts.onProgress && (j % 256 === 0 || j === k - 1)) opts.onProgress(j + 1);
  }
  if (opts.onRadius) {
    let r = 0;
    for (const v of radius) r = Math.max(r, v);
    opts.onRadius(Math.sqrt(r));
  }
  return chosen;
}

/**
 * Grow an existing coreset: `fixed` ([m, d]) are centres already chosen; choose up to `k` of `points` ([n, d])
 * greedily, each the point farthest from every centre so far, stopping early once no point is farther than
 * `minDistance` (it would add nothing the centres do not already cover). Returns the chosen indices into
 * `points`, in order. Plain greedy: n is a few thousand candidates here.
 */
export function extendCoreset(
  fixed: Float32Array,
  points: Float32Array,
  d: number,
  k: number,
  minDistance = 0,
): Int32Array {
  const n = points.length / d;
  const m = fixed.length / d;
  const minD = new Float64Array(n).fill(Infinity);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) minD[i] = Math.min(minD[i], dist2(points, i, fixed, j, d));
  const chosen: number[] = [];
  const limit = minDistance * minDistance;
  while (chosen.length < Math.min(k, n)) {
    let best = -1;
    for (let i = 0; i < n; i++) if (best < 0 || minD[i] > minD[best]) best = i;
    if (!(minD[best] > limit)) break;
    chosen.push(best);
    for (let i = 0; i < n; i++) minD[i] = Math.min(minD[i], dist2(points, i, points, best, d));
  }
  return Int32Array.from(chosen);
}
