// A report's days are local days of one time zone (the reader's), not UTC days: a night shift's images
// belong to the day the plant calls it. This splits a period into those days (DST days are 23 or 25 hours
// long) and names the zone with its UTC offset, so the PDF, the CSV and the UI say which days they mean.

/** One local day of a period, cut to the period: [from, to) in epoch ms. */
export interface LocalDay {
  /** YYYY-MM-DD in the time zone. */
  day: string;
  from: number;
  to: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** The wall-clock time in `timeZone` at instant `ms`, read as if it were UTC (epoch ms). */
function wallClock(ms: number, timeZone: string): number {
  const p = Object.fromEntries(
    formatter(timeZone)
      .formatToParts(ms)
      .map((x) => [x.type, x.value]),
  );
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
}

/** Offset of `timeZone` from UTC at instant `ms`, in minutes (east positive). */
export function utcOffsetMinutes(ms: number, timeZone: string): number {
  return Math.round((wallClock(ms - (ms % 1000), timeZone) - (ms - (ms % 1000))) / 60_000);
}

/** The local date (YYYY-MM-DD) of instant `ms` in `timeZone`. */
export function localDate(ms: number, timeZone: string): string {
  return new Date(wallClock(ms, timeZone)).toISOString().slice(0, 10);
}

/** The first instant of local date `day` (YYYY-MM-DD) in `timeZone` (01:00 where midnight is skipped). */
function startOfDay(day: string, timeZone: string): number {
  const midnight = Date.parse(`${day}T00:00:00Z`);
  // Two rounds settle the offset (it may differ either side of a DST change).
  let t = midnight - utcOffsetMinutes(midnight, timeZone) * 60_000;
  t = midnight - utcOffsetMinutes(t, timeZone) * 60_000;
  // Midnight may not exist (a DST jump at 00:00): then the day starts at its first existing instant.
  while (localDate(t, timeZone) < day) t += 15 * 60_000;
  while (localDate(t - 1, timeZone) === day) t -= 15 * 60_000;
  return t;
}

const nextDate = (day: string) =>
  new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);

/** The local days that [from, to) touches, oldest first, each cut to the period. */
export function localDays(from: number, to: number, timeZone: string): LocalDay[] {
  const days: LocalDay[] = [];
  for (let day = localDate(from, timeZone), start = from; start < to; day = nextDate(day)) {
    const end = Math.min(to, startOfDay(nextDate(day), timeZone));
    if (end > start) days.push({ day, from: start, to: end });
    start = Math.max(start, end);
  }
  return days;
}

const offsetText = (minutes: number) => {
  const a = Math.abs(minutes);
  return `UTC${minutes < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
};

/** "Europe/Berlin, UTC+01:00" (or "UTC+01:00/+02:00" when the period crosses a DST change); "UTC" for UTC. */
export function timeZoneLabel(timeZone: string, from: number, to: number): string {
  if (/^(Etc\/)?(UTC|UCT|GMT|Zulu|Universal)$/i.test(timeZone)) return timeZone;
  const offsets = [
    ...new Set(
      localDays(from, to, timeZone).flatMap((d) => [
        utcOffsetMinutes(d.from, timeZone),
        utcOffsetMinutes(d.to - 1, timeZone),
      ]),
    ),
  ];
  if (!offsets.length) offsets.push(utcOffsetMinutes(from, timeZone));
  const [first, ...rest] = offsets.map(offsetText);
  return `${timeZone}, ${[first, ...rest.map((o) => o.slice(3))].join('/')}`;
}

/** A local wall-clock time in `timeZone`: "2026-03-29 00:00". */
export function localDateTime(ms: number, timeZone: string): string {
  return new Date(wallClock(ms, timeZone)).toISOString().slice(0, 16).replace('T', ' ');
}

/** The station's own time zone (the process's), for reports that do not name one. */
export function systemTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}
