// The UI's numbers, dates and times in each of its languages (Intl, the runtime's CLDR data): the formats
// the views use, checked here where they are pure.
import { describe, expect, it } from 'vitest';
import * as intl from '../../src/renderer/src/i18n/intl';

describe('formats per language', () => {
  it('groups counts and writes decimals as each language does', () => {
    expect(intl.int('en', 1234567)).toBe('1,234,567');
    expect(intl.int('de', 1234567)).toBe('1.234.567');
    expect(intl.int('ja', 1234567)).toBe('1,234,567');
    expect(intl.int('ko', 1234567)).toBe('1,234,567');
    expect(intl.score('en', 0.123456)).toBe('0.1235');
    expect(intl.score('de', 0.123456)).toBe('0,1235');
    // Scores are not grouped (they are read as measurements) and keep 4 significant digits.
    expect(intl.score('de', 12345.6)).toBe('12350');
    expect(intl.fixed('de', 1234.5, 1)).toBe('1234,5');
    expect(intl.score('en', null)).toBe('—');
    expect(intl.int('en', Number.NaN)).toBe('—');
  });

  it('writes percentages with the language’s sign and spacing', () => {
    expect(intl.percent('en', 0.0123)).toBe('1.2%');
    expect(intl.percent('de', 0.0123)).toMatch(/^1,2\s%$/); // a no-break space before the sign
    expect(intl.percent('ja', 0.0123)).toBe('1.2%');
    expect(intl.percent('en', 0.005, 2, 0)).toBe('0.5%');
    expect(intl.percent('en', Number.NaN)).toBe('—');
  });

  it('writes dates in each language’s order, the same day in every time zone', () => {
    expect(intl.day('en', '2026-03-01')).toBe('03/01/2026');
    expect(intl.day('de', '2026-03-01')).toBe('01.03.2026');
    expect(intl.day('ja', '2026-03-01')).toBe('2026/03/01');
    expect(intl.day('ko', '2026-03-01')).toMatch(/^2026\. 03\. 01\.?$/);
    const at = '2026-03-01T14:05:09Z';
    expect(intl.time('de', at, 'UTC')).toBe('14:05:09');
    expect(intl.dateTime('ja', at, 'UTC')).toBe('2026/03/01 14:05:09');
    expect(intl.when('en', at, 'UTC')).toBe('3/1/26, 2:05 PM');
    expect(intl.dateTime('en', 'not a date')).toBe('not a date');
  });
});
