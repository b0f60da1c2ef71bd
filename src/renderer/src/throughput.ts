// Images per minute from counts per time bucket: the station counts what its database holds for the last
// minutes (throughput), the Live view adds each new inspection to its bucket, and the rate is read from
// those counts against the station's clock, so it is right from the moment the page opens.

/** The span the rate averages over. */
export const RATE_WINDOW_MS = 5 * 60_000;

/**
 * Inspections per minute over (now - windowMs, now]: each bucket [start, start + bucketMs) counts in
 * proportion to how much of its elapsed part lies inside the window (the current bucket counts whole;
 * the oldest one, cut by the window's start, counts pro rata).
 */
export function ratePerMinute(
  buckets: Iterable<readonly [start: number, count: number]>,
  now: number,
  bucketMs: number,
  windowMs = RATE_WINDOW_MS,
): number {
  const from = now - windowMs;
  let n = 0;
  for (const [start, count] of buckets) {
    const end = Math.min(start + bucketMs, now);
    const elapsed = end - start;
    if (elapsed <= 0) continue;
    const inside = end - Math.max(start, from);
    if (inside > 0) n += (count * inside) / elapsed;
  }
  return (n * 60_000) / windowMs;
}
