// The languages the station's UI and audit reports speak (issue 18): their codes, and each one's name as
// its own speakers write it (a language picker names every language in that language). The CLI stays
// English. Shared by main (the report's language, validated in api.ts) and the renderer (its catalogues).

export const LANGUAGES = ['en', 'de', 'ja', 'ko'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Each language's own name for itself. */
export const LANGUAGE_NAMES: Record<Language, string> = {
  en: 'English',
  de: 'Deutsch',
  ja: '日本語',
  ko: '한국어',
};

export function isLanguage(x: unknown): x is Language {
  return typeof x === 'string' && (LANGUAGES as readonly string[]).includes(x);
}

/**
 * The first supported language among a browser's or OS's preferred ones (BCP 47 tags such as "de-AT",
 * "ja-JP", "ko"), by their primary subtag; English when none is supported.
 */
export function pickLanguage(preferred: readonly string[]): Language {
  for (const tag of preferred) {
    const primary = tag.toLowerCase().split(/[-_]/)[0];
    if (isLanguage(primary)) return primary;
  }
  return 'en';
}
