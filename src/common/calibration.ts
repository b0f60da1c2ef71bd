// How many held-out good images a false-alarm target needs. n images can show false-alarm rates only in
// steps of 1/n, so a target below that (0.5 % from 10 images) cannot be estimated: the quantile lands on
// about the highest good score, and nobody knows how often good parts will exceed it. Training warns with
// this text and the Calibrate panel says it; pure, shared by main and renderer.

/** Fewest held-out good images among which one false alarm is at most `target`: ceil(1 / target). */
export function goodImagesNeeded(target: number): number {
  return Math.ceil(1 / target - 1e-9);
}

const pct = (x: number) => `${Number((x * 100).toFixed(2))} %`;

/** Why `images` held-out good images cannot estimate a `target` false-alarm rate; null when they can. */
export function calibrationSetWarning(images: number, target: number): string | null {
  if (!(target > 0) || images <= 0) return null;
  const need = goodImagesNeeded(target);
  if (images >= need) return null;
  return (
    `${images} held-out good images cannot estimate a ${pct(target)} false-alarm rate: that needs at least ` +
    `${need} (one false alarm in ${need}). ${images} images show rates only in steps of ${pct(1 / images)}, ` +
    `so the threshold sits near the highest good score and its real false-alarm rate is unknown. ` +
    `Train with more good images or hold out a larger share to calibrate it.`
  );
}
