// Number, date and time formats for a given language, with Intl (pure: the views reach them through
// ./format, which passes the UI's current language; the tests call them directly). Missing values show
// as an em dash.

const DASH = '—';
const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

// Intl formatters are costly to build and the views call these per table cell: one per locale and options.
const cache = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();
function numberFormat(locale: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `n${locale}${JSON.stringify(options)}`;
  let f = cache.get(key) as Intl.NumberFormat | undefined;
  if (!f) cache.set(key, (f = new Intl.NumberFormat(locale, options)));
  return f;
}
function dateFormat(locale: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `d${locale}${JSON.stringify(options)}`;
  let f = cache.get(key) as Intl.DateTimeFormat | undefined;
  if (!f) cache.set(key, (f = new Intl.DateTimeFormat(locale, options)));
  return f;
}

/** A count, grouped: 12,345 / 12.345. */
export function int(locale: string, n: number | null | undefined): string {
  return finite(n) ? numberFormat(locale, { maximumFractionDigits: 0 }).format(n) : DASH;
}

/** Exactly `digits` decimals, no grouping (1.5 images/s, 0.912, 1234.5): read as a measurement. */
export function fixed(locale: string, x: number | null | undefined, digits: number): string {
  return finite(x)
    ? numberFormat(locale, {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
        useGrouping: false,
      }).format(x)
    : DASH;
}

/** A raw score: `digits` significant digits (scores span orders of magnitude between methods). */
export function score(locale: string, x: number | null | undefined, digits = 4): string {
  return finite(x)
    ? numberFormat(locale, {
        minimumSignificantDigits: digits,
        maximumSignificantDigits: digits,
        useGrouping: false,
      }).format(x)
    : DASH;
}

/** A share as a percentage with up to `digits` decimals (at least `minDigits`): 12.3% / 12,3 %. */
export function percent(
  locale: string,
  x: number | null | undefined,
  digits = 1,
  minDigits = digits,
): string {
  return finite(x)
    ? numberFormat(locale, {
        style: 'percent',
        minimumFractionDigits: minDigits,
        maximumFractionDigits: digits,
      }).format(x)
    : DASH;
}

/** Images per minute as the Live counters show it: one decimal below 10, whole numbers above. */
export function rate(locale: string, perMinute: number): string {
  return perMinute < 10 ? fixed(locale, perMinute, 1) : int(locale, Math.round(perMinute));
}

/** A byte count in kB / MB. */
export function bytes(locale: string, n: number): string {
  return n > 1e6 ? `${fixed(locale, n / 1e6, 1)} MB` : `${int(locale, Math.ceil(n / 1024))} kB`;
}

const parse = (iso: string | null | undefined): Date | null => {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
};

/** Date and time with seconds (in `timeZone`, else the runtime's). */
export function dateTime(locale: string, iso: string | null | undefined, timeZone?: string): string {
  const d = parse(iso);
  return d
    ? dateFormat(locale, { dateStyle: 'short', timeStyle: 'medium', timeZone }).format(d)
    : iso || DASH;
}

/** Date and time without seconds. */
export function when(locale: string, iso: string | null | undefined, timeZone?: string): string {
  const d = parse(iso);
  return d ? dateFormat(locale, { dateStyle: 'short', timeStyle: 'short', timeZone }).format(d) : iso || DASH;
}

/** The time of day with seconds. */
export function time(locale: string, iso: string | null | undefined, timeZone?: string): string {
  const d = parse(iso);
  return d ? dateFormat(locale, { timeStyle: 'medium', timeZone }).format(d) : DASH;
}

/** A calendar day given as YYYY-MM-DD (a report's local day), in the language's numeric date order. */
export function day(locale: string, ymd: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(ymd);
  if (!m) return ymd;
  // Noon UTC of that day, shown in UTC: the same calendar day whatever the runtime's zone.
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), 12));
  return dateFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit', timeZone: 'UTC' }).format(d);
}
