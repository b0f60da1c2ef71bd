// The formats of ./intl in the UI's current language: every view formats numbers, dates and times through
// here, and since each call reads the (reactive) language, a template re-renders on a switch.
import { language } from './index';
import * as intl from './intl';

export const int = (n: number | null | undefined) => intl.int(language(), n);
export const fixed = (x: number | null | undefined, digits: number) => intl.fixed(language(), x, digits);
export const score = (x: number | null | undefined, digits = 4) => intl.score(language(), x, digits);
export const percent = (x: number | null | undefined, digits = 1, minDigits = digits) =>
  intl.percent(language(), x, digits, minDigits);
export const rate = (perMinute: number) => intl.rate(language(), perMinute);
export const bytes = (n: number) => intl.bytes(language(), n);
export const dateTime = (iso: string | null | undefined) => intl.dateTime(language(), iso);
export const when = (iso: string | null | undefined) => intl.when(language(), iso);
export const time = (iso: string | null | undefined) => intl.time(language(), iso);
export const day = (ymd: string) => intl.day(language(), ymd);
