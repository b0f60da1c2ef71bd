// The language check `npm run lint` runs (scripts/check-i18n.ts), on catalogues and views written here:
// it must name every kind of problem it is there for, and pass what is right.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCatalogue, hardCoded, unknownKeys } from '../../scripts/check-i18n';
import { tempDir } from '../helpers/fixtures';

const t = tempDir('check-i18n-');
afterAll(() => t.cleanup());

function write(file: string, content: unknown): string {
  const path = join(t.dir, file);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

describe('catalogues', () => {
  it('name a missing key, an extra key, other placeholders, an English copy and a message that does not compile', () => {
    const en = { greet: 'Hello {name}', bye: 'Goodbye', review: { keys: 'Press {key}' } };
    write('cat/en.json', en);
    write('cat/de.json', { greet: 'Hallo {name}', review: { keys: 'Drücken Sie {key}' }, extra: 'Extra' });
    write('cat/ja.json', { greet: 'こんにちは {who}', bye: 'さようなら', review: { keys: '{key} を押す' } });
    write('cat/ko.json', { greet: '안녕하세요 {name', bye: 'Goodbye', review: { keys: '{key} 누르기' } });
    const messages = checkCatalogue(join(t.dir, 'cat')).problems.map(
      (p) => `${p.file.split('/').pop()} ${p.message}`,
    );
    expect(messages).toEqual(
      expect.arrayContaining([
        'de.json bye: missing (en.json has it)',
        'de.json extra: not in en.json (a key English does not have)',
        "ja.json greet: placeholders {who} differ from English's {name}",
        'ko.json bye: untranslated (the same as English; if that is right, list it in SAME_AS_ENGLISH)',
      ]),
    );
    // The broken message is named twice: it does not compile, and its {name} is not a placeholder.
    expect(messages.some((m) => m.startsWith('ko.json greet: vue-i18n cannot compile it'))).toBe(true);
    expect(messages).toContain("ko.json greet: placeholders {} differ from English's {name}");
    expect(messages).toHaveLength(6);
  });

  it('pass four complete, translated catalogues (words the same in every language allowed)', () => {
    write('good/en.json', { n: '{n} px', title: 'Report', score: 'Score' });
    write('good/de.json', { n: '{n} px', title: 'Bericht', score: 'Score' });
    write('good/ja.json', { n: '{n} px', title: 'レポート', score: 'スコア' });
    write('good/ko.json', { n: '{n} px', title: '보고서', score: '점수' });
    expect(checkCatalogue(join(t.dir, 'good'), { de: ['score'] }).problems).toEqual([]);
  });
});

describe('views', () => {
  it('name text, visible attributes and shown literals that are not from a catalogue', () => {
    const file = write(
      'View.vue',
      `<script setup lang="ts">
import { useI18n } from 'vue-i18n';
const { t } = useI18n();
const busy = false;
const notice = (s: string) => s;
notice('the station is not answering');
</script>

<template>
  <section>
    <h2>Save changes</h2>
    <button :title="t('ok.title')">{{ t('ok.label') }} <kbd>D</kbd></button>
    <button title="Close the window">×</button>
    <input placeholder="/srv/camera/line-1" />
    <p>{{ busy ? 'Working…' : t('idle') }}</p>
    <code>npm run station -- train</code>
    <span>MQTT · 42 %</span>
  </section>
</template>
`,
    );
    const found = hardCoded(file).map((p) => `${p.line}: ${p.message}`);
    expect(found).toEqual([
      '6: hard-coded text: "the station is not answering"',
      '11: hard-coded text: "Save changes"',
      '13: hard-coded text: title="Close the window"',
      '15: hard-coded text: "Working…"',
    ]);
  });

  it('name keys the code uses that English does not have, literal and by prefix', () => {
    const file = write(
      'Keys.vue',
      `<template><p>{{ t('known.key') }} {{ t('no.such.key') }} {{ t(\`known.\${x}\`) }} {{ t(\`gone.\${x}\`) }}</p>
<i18n-t keypath="known.key" /><i18n-t :keypath="x ? 'known.key' : 'missing.one'" /></template>`,
    );
    const keys = new Map<string, unknown>([['known.key', 'Known']]);
    expect(unknownKeys([file], keys).map((p) => p.message)).toEqual([
      '"no.such.key" is not in en.json',
      'no message key starts with "gone."',
      '"missing.one" is not in en.json',
    ]);
  });
});
