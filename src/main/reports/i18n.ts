// The audit report's languages (en, de, ja, ko): its words come from ./locales/<language>.json (English the
// reference; scripts/check-i18n.ts checks every key in every language, as for the UI's catalogues), read with
// @intlify/core-base, vue-i18n's framework-free core, so the UI and the report share one message syntax;
// its numbers are written as the language writes them (Intl). Dates and times stay ISO 8601, as in the CSV
// and the database: an auditor traces a row by them.
import {
  compile,
  createCoreContext,
  fallbackWithLocaleChain,
  registerLocaleFallbacker,
  registerMessageCompiler,
  registerMessageResolver,
  resolveValue,
  translate,
  type CoreContext,
} from '@intlify/core-base';
import type { Language } from '../../common/languages';
import de from './locales/de.json';
import en from './locales/en.json';
import ja from './locales/ja.json';
import ko from './locales/ko.json';

registerMessageCompiler(compile);
registerMessageResolver(resolveValue);
registerLocaleFallbacker(fallbackWithLocaleChain);

const MESSAGES = { en, de, ja, ko };

/** The report's English messages (what a report without a language is written in). */
export const ENGLISH = en;

export interface ReportText {
  language: Language;
  /** The message `key` (dotted) with its {placeholders} filled in. */
  t(key: string, values?: Record<string, unknown>): string;
  /** A count: 1,234 / 1.234. */
  int(n: number): string;
  /** A rate with two decimals, or a dash: 12.34% / 12,34 %. */
  pct(r: number | null): string;
  /** A raw score or threshold with `digits` significant digits, or a dash. */
  num(v: number | null, digits?: number): string;
  /** Exactly `digits` decimals, or a dash. */
  fixed(v: number | null, digits: number): string;
}

const contexts = new Map<Language, ReportText>();

export function reportText(language: Language = 'en'): ReportText {
  let text = contexts.get(language);
  if (text) return text;
  const ctx: CoreContext = createCoreContext({
    locale: language,
    fallbackLocale: 'en',
    messages: MESSAGES,
    missingWarn: false,
    fallbackWarn: false,
  });
  const numbers = (o: Intl.NumberFormatOptions) => new Intl.NumberFormat(language, o);
  const int = numbers({ maximumFractionDigits: 0 });
  const pct = numbers({ style: 'percent', minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const significant = new Map<number, Intl.NumberFormat>();
  const decimals = new Map<number, Intl.NumberFormat>();
  const cached = (m: Map<number, Intl.NumberFormat>, k: number, o: Intl.NumberFormatOptions) => {
    let f = m.get(k);
    if (!f) m.set(k, (f = numbers(o)));
    return f;
  };
  text = {
    language,
    t: (key, values = {}) => String(translate(ctx, key, values)),
    int: (n) => int.format(n),
    pct: (r) => (r === null ? '–' : pct.format(r)),
    num: (v, digits = 5) =>
      v === null
        ? '–'
        : cached(significant, digits, {
            minimumSignificantDigits: digits,
            maximumSignificantDigits: digits,
            useGrouping: false,
          }).format(v),
    fixed: (v, digits) =>
      v === null
        ? '–'
        : cached(decimals, digits, {
            minimumFractionDigits: digits,
            maximumFractionDigits: digits,
            useGrouping: false,
          }).format(v),
  };
  contexts.set(language, text);
  return text;
}
