// A false-alarm target needs about 1/target held-out good images; fewer can only show rates in steps of 1/n.
import { describe, expect, it } from 'vitest';
import { calibrationSetWarning, goodImagesNeeded } from '../../src/common/calibration';

describe('calibration set size', () => {
  it('needs 1/target images', () => {
    expect(goodImagesNeeded(0.005)).toBe(200);
    expect(goodImagesNeeded(0.01)).toBe(100);
    expect(goodImagesNeeded(0.03)).toBe(34);
  });

  it('says why 10 images cannot estimate 0.5 %, and is silent when there are enough', () => {
    const w = calibrationSetWarning(10, 0.005);
    expect(w).toContain('10 held-out good images cannot estimate a 0.5 % false-alarm rate');
    expect(w).toContain('at least 200');
    expect(w).toContain('steps of 10 %');
    expect(calibrationSetWarning(199, 0.005)).not.toBeNull();
    expect(calibrationSetWarning(200, 0.005)).toBeNull();
    expect(calibrationSetWarning(12, 0.1)).toBeNull();
  });
});
