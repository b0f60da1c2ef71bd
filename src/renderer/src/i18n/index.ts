// The UI's languages (en, de, ja, ko): vue-i18n with one message file per language in ./locales, English
// the reference. The language is the one picked in Settings, remembered in this browser's (or Electron
// window's) storage; before any pick, the first of the browser's / OS's preferred languages the station
// speaks, else English. A message missing from a language is said on the console (`[i18n] missing ...`,
// in production builds too, where vue-i18n itself stays silent; the e2e tests fail on it) and shown in
// English. `npm run lint` runs scripts/check-i18n.ts: every key in every language, no hard-coded text.
import { watchEffect } from 'vue';
import { createI18n } from 'vue-i18n';
import { isLanguage, LANGUAGES, pickLanguage, type Language } from '../../../common/languages';
import de from './locales/de.json';
import en from './locales/en.json';
import ja from './locales/ja.json';
import ko from './locales/ko.json';

export type MessageSchema = typeof en;

/** Where the picked language is remembered (localStorage, per browser profile or Electron user data). */
export const LANGUAGE_STORAGE_KEY = 'anomaly-station.language';

function remembered(): Language | null {
  try {
    const stored = localStorage.getItem(LANGUAGE_STORAGE_KEY);
    return isLanguage(stored) ? stored : null;
  } catch {
    return null; // storage refused (a locked-down profile): the browser's language then
  }
}

function initialLanguage(): Language {
  return (
    remembered() ?? pickLanguage(navigator.languages?.length ? navigator.languages : [navigator.language])
  );
}

export const i18n = createI18n<[MessageSchema], Language, false>({
  legacy: false,
  locale: initialLanguage(),
  fallbackLocale: 'en',
  messages: { en, de, ja, ko },
  // Called once per language a key is missing from (then English is tried): loud in every build.
  missing: (locale, key) => {
    console.warn(`[i18n] missing message "${key}" in "${locale}"`);
  },
  missingWarn: false,
  fallbackWarn: false,
});

/** The language the UI speaks now (reactive: formatters that read it re-render on a switch). */
export function language(): Language {
  return i18n.global.locale.value;
}

/** Switch the UI's language and remember it. */
export function setLanguage(l: Language): void {
  i18n.global.locale.value = l;
  try {
    localStorage.setItem(LANGUAGE_STORAGE_KEY, l);
  } catch {
    // not remembered: this session still speaks it
  }
}

/** Translate outside components (stores, notices); inside them, use `useI18n()` / `$t`. */
export const t = i18n.global.t;

// The page says its language (screen readers, hyphenation, CJK line breaking and font choice follow it).
watchEffect(() => {
  document.documentElement.lang = i18n.global.locale.value;
});

export { LANGUAGES, type Language };
