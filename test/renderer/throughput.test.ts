// The Live view's rate: counts per 10-second bucket (from the station's database, then from events) read
// as images per minute over the last five minutes, against the station's clock.
import { describe, expect, it } from 'vitest';
import { RATE_WINDOW_MS, ratePerMinute } from '../../src/renderer/src/throughput';
import { rate } from '../../src/renderer/src/i18n/intl';

const B = 10_000;
const T0 = Date.parse('2026-01-05T06:00:00Z');

describe('ratePerMinute', () => {
  it('is the images in the window per minute: 20 a minute for five minutes reads 20', () => {
    // One image every 3 s for the last 5 minutes (what the demo camera drops): 100 images, ~3.33 per bucket.
    const now = T0 + 10 * 60_000;
    const counts = new Map<number, number>();
    for (let t = now - RATE_WINDOW_MS + 1500; t <= now; t += 3000) {
      const b = Math.floor(t / B) * B;
      counts.set(b, (counts.get(b) ?? 0) + 1);
    }
    expect(ratePerMinute(counts, now, B)).toBeCloseTo(20, 0);
    expect(rate('en', ratePerMinute(counts, now, B))).toBe('20');
  });

  it('counts the current bucket whole and the bucket cut by the window pro rata', () => {
    const now = T0 + 5 * 60_000 + 4_000; // 4 s into a bucket
    const oldest = Math.floor((now - RATE_WINDOW_MS) / B) * B; // starts 4 s before the window does
    const buckets: [number, number][] = [
      [oldest - B, 50], // wholly before the window: not counted
      [oldest, 10], // 6 of its 10 s inside: 6 images
      [now - 4_000, 3], // the current bucket: all 3 happened by now
    ];
    expect(ratePerMinute(buckets, now, B)).toBeCloseTo((6 + 3) / 5, 10);
  });

  it('falls to zero when images stop, and ignores buckets after now', () => {
    const counts = new Map([[T0, 40]]);
    expect(ratePerMinute(counts, T0 + 9_999, B)).toBeCloseTo(8, 10);
    expect(ratePerMinute(counts, T0 + RATE_WINDOW_MS + B, B)).toBe(0);
    expect(ratePerMinute(new Map([[T0 + B, 5]]), T0 + 5_000, B)).toBe(0);
  });

  it('shows one decimal below 10 a minute, as the language writes it', () => {
    expect(rate('en', 1)).toBe('1.0');
    expect(rate('en', 9.94)).toBe('9.9');
    expect(rate('en', 12.4)).toBe('12');
    expect(rate('en', 0)).toBe('0.0');
    expect(rate('de', 9.94)).toBe('9,9');
    expect(rate('de', 1234.4)).toBe('1.234');
  });
});
