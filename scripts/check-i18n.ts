// The language check `npm run lint` runs (issue 18): the station's message catalogues — the UI's
// (src/renderer/src/i18n/locales) and the audit report's (src/main/reports/locales), one JSON file per
// language — must each have every key English has, no key English lacks, the same {placeholders} per
// message, messages vue-i18n compiles and that are translated (not English copies); every key the code
// names must exist; and no view may show text that is not from a catalogue: .vue templates (text, visible
// attributes such as title, placeholder, alt, aria-label, and string literals in what they display) and
// prose-like string literals in renderer scripts are reported with file and line. Run: `npm run check:i18n` (exit 1 and one line per problem).
//
// The report's writers (src/main/reports) are scanned like renderer scripts: a sentence there is reported.
//
// Text that is the same in every language may stay in a view: what is inside <kbd> and <code> (keys,
// commands), product and protocol names (ALLOWED), command lines (`npm run ...`, `station ...`), and
// examples such as /srv/camera/line-1 (no spaces, with a digit, a path or URL character).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compile } from '@intlify/core-base';
import ts from 'typescript';
import { parse as parseSfc } from 'vue/compiler-sfc';
import { LANGUAGES } from '../src/common/languages';

const ROOT = resolve(import.meta.dirname, '..');

/** The catalogues: each a folder with <language>.json, and the sources whose keys must exist in it. */
export const CATALOGUES = [
  { name: 'UI', dir: 'src/renderer/src/i18n/locales', sources: ['src/renderer/src'] },
  { name: 'report', dir: 'src/main/reports/locales', sources: ['src/main/reports'] },
] as const;

/** Names that read the same in every language. */
export const ALLOWED = new Set([
  'Anomaly Station',
  'SHA-256',
  'AUROC',
  'AUPRC',
  'QoS',
  'MQTT',
  'OPC UA',
  'PDF',
  'CSV',
  'Alt',
  'Alt+',
  'Esc',
]);

/** Units and abbreviations every language here writes as English does. */
const NEUTRAL_WORDS = new Set([
  ...ALLOWED,
  'OK',
  'sha256',
  'px',
  'ch',
  'ROC',
  'F1',
  'ETA',
  'URL',
  'TLS',
  'CA',
  'PEM',
]);

/**
 * Messages that are rightly the same as English in a language (German shares these words), per catalogue;
 * any other message equal to English in de, ja or ko is reported as untranslated.
 */
export const SAME_AS_ENGLISH: Record<string, Partial<Record<string, string[]>>> = {
  UI: {
    de: [
      'app.view.live',
      'common.optional',
      'review.original',
      'settings.name',
      'settings.station',
      'settings.version',
      'history.score',
      'history.scoreMin',
      'history.engine',
      'reports.version',
      'lines.name',
      'lines.status',
      'lines.engine',
      'modelTable.name',
      'outputs.securityShort.sign-and-encrypt',
      'outputs.port',
    ],
  },
  report: {
    de: ['label.station', 'column.heatmap', 'column.score', 'csv.column.engine'],
  },
};

/** Whether a message reads the same in every language: placeholders, names, units and symbols only. */
function neutral(message: string): boolean {
  const words = message
    .replace(/\{[^}]*\}/g, ' ')
    .split(/[^\p{L}\d-]+/u)
    .filter((w) => /\p{L}/u.test(w));
  return words.every((w) => NEUTRAL_WORDS.has(w));
}

/** Attributes a person sees or hears (tooltips, placeholders, alternative text, accessible names). */
const VISIBLE_ATTRIBUTES = new Set([
  'title',
  'placeholder',
  'alt',
  'label',
  'aria-label',
  'aria-description',
  'aria-placeholder',
  'aria-roledescription',
  'aria-valuetext',
]);

/** Functions whose first argument is a message key. */
const TRANSLATORS = new Set(['t', 'tr', 'te', 'tm', '$t']);

export interface Problem {
  file: string;
  line: number;
  message: string;
}

type Messages = { [key: string]: string | Messages };

// ------------------------------------------------------------------------------------------ catalogues

/** Every key (dotted) of a catalogue with its message. */
export function flatten(m: Messages, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(m)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v))
      for (const [kk, vv] of flatten(v, key)) out.set(kk, vv);
    else out.set(key, v);
  }
  return out;
}

/** The named placeholders of a message ({name}); literals such as {'|'} are not placeholders. */
export function placeholders(message: string): string[] {
  return [...new Set([...message.matchAll(/\{\s*([A-Za-z_$][\w$]*)\s*\}/g)].map((m) => m[1]))].sort();
}

/** Why vue-i18n cannot compile a message, or null. */
function compileError(message: string, key: string, locale: string): string | null {
  try {
    compile(message, {
      key,
      locale,
      onError: (e) => {
        throw e;
      },
    });
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

/** The catalogue in `dir`: every language's file against English's. */
export function checkCatalogue(
  dir: string,
  sameAsEnglish: Partial<Record<string, string[]>> = {},
): { problems: Problem[]; keys: Map<string, unknown> } {
  const problems: Problem[] = [];
  const load = (lang: string): Map<string, unknown> | null => {
    const file = join(dir, `${lang}.json`);
    try {
      return flatten(JSON.parse(readFileSync(file, 'utf8')) as Messages);
    } catch (e) {
      problems.push({ file, line: 0, message: `cannot read ${lang}.json: ${(e as Error).message}` });
      return null;
    }
  };
  const en = load('en') ?? new Map<string, unknown>();
  for (const lang of LANGUAGES) {
    const file = join(dir, `${lang}.json`);
    const messages = lang === 'en' ? en : load(lang);
    if (!messages) continue;
    const lineOf = lineFinder(file);
    for (const [key, value] of messages) {
      const at = (message: string) => problems.push({ file, line: lineOf(key), message });
      if (typeof value !== 'string') {
        at(`${key}: not a string`);
        continue;
      }
      if (!value.trim()) at(`${key}: empty message`);
      const err = compileError(value, key, lang);
      if (err) at(`${key}: vue-i18n cannot compile it: ${err}`);
      if (lang === 'en') continue;
      const reference = en.get(key);
      if (reference === undefined) {
        at(`${key}: not in en.json (a key English does not have)`);
        continue;
      }
      if (typeof reference === 'string') {
        const want = placeholders(reference).join(', ');
        const got = placeholders(value).join(', ');
        if (want !== got) at(`${key}: placeholders {${got}} differ from English's {${want}}`);
        if (value === reference && !neutral(value) && !sameAsEnglish[lang]?.includes(key))
          at(`${key}: untranslated (the same as English; if that is right, list it in SAME_AS_ENGLISH)`);
      }
    }
    if (lang !== 'en')
      for (const key of en.keys())
        if (!messages.has(key)) problems.push({ file, line: 0, message: `${key}: missing (en.json has it)` });
  }
  return { problems, keys: en };
}

/** The line a key's last segment is written on (good enough to point at it). */
function lineFinder(file: string): (key: string) => number {
  let lines: string[] = [];
  try {
    lines = readFileSync(file, 'utf8').split('\n');
  } catch {
    // reported by the loader
  }
  return (key) => {
    const last = key.split('.').pop()!;
    const i = lines.findIndex((l) => l.includes(`"${last}"`));
    return i + 1;
  };
}

// ------------------------------------------------------------------------------------------- sources

/** Whether a text a person would see needs a translation (has letters and is not the same everywhere). */
export function needsTranslation(text: string): boolean {
  const s = text.replace(/\s+/g, ' ').trim();
  if (!/\p{L}/u.test(s)) return false; // numbers, punctuation, symbols
  if (ALLOWED.has(s) || neutral(s)) return false; // names, units and symbols only
  if (/^(npm run|station) /.test(s)) return false; // a command line
  // An example or identifier (a path, URL, file or model name): no spaces, and a digit or path character.
  if (/^[\p{L}\d./:\\@+_-]+$/u.test(s) && /[\d./:\\_-]/.test(s)) return false;
  return true;
}

/** Whether a script string literal reads like a sentence for a person (two words or more). */
function prose(text: string): boolean {
  return needsTranslation(text) && /\p{L}{2,}[^\S\n]+\p{L}{2,}/u.test(text);
}

interface Literal {
  text: string;
  /** 0-based offset in the parsed text. */
  pos: number;
  /** An argument of a call that is not a translator's (a key or enum value handed to a helper, often). */
  argument: boolean;
}

/**
 * The string literals of a TypeScript expression or module that could reach the screen: not message keys
 * (translator arguments), imports, comparison operands, property names, switch cases or console output.
 */
function literals(code: string, file: string): Literal[] {
  const src = ts.createSourceFile(file, code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Literal[] = [];
  const isTranslatorCall = (n: ts.Node) =>
    ts.isCallExpression(n) &&
    ((ts.isIdentifier(n.expression) && TRANSLATORS.has(n.expression.text)) ||
      (ts.isPropertyAccessExpression(n.expression) && TRANSLATORS.has(n.expression.name.text)));
  const skip = (n: ts.Node): boolean => {
    const p = n.parent;
    if (!p) return false;
    if (isTranslatorCall(p) && (p as ts.CallExpression).arguments[0] === n) return true;
    if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isImportTypeNode(p.parent ?? p))
      return true;
    if (ts.isLiteralTypeNode(p)) return true;
    if (ts.isBinaryExpression(p)) {
      const op = p.operatorToken.kind;
      if (
        op === ts.SyntaxKind.EqualsEqualsEqualsToken ||
        op === ts.SyntaxKind.ExclamationEqualsEqualsToken ||
        op === ts.SyntaxKind.EqualsEqualsToken ||
        op === ts.SyntaxKind.ExclamationEqualsToken ||
        op === ts.SyntaxKind.InKeyword
      )
        return true;
    }
    if (ts.isCaseClause(p) || ts.isElementAccessExpression(p)) return true;
    if ((ts.isPropertyAssignment(p) || ts.isPropertySignature(p)) && p.name === n) return true;
    if (ts.isCallExpression(p)) {
      const callee = p.expression.getText(src);
      if (
        /^console\.|^(document|window)\.|\.(addEventListener|removeEventListener|getElementById|querySelector|emit)$|^(emit|defineStore|new Error)$/.test(
          callee,
        )
      )
        return true;
      if (/^(Error|TypeError|RangeError)$/.test(callee)) return true;
    }
    if (ts.isNewExpression(p)) return true; // new Error(...), new Intl.X(...)
    return false;
  };
  const visit = (n: ts.Node) => {
    const argument = !!n.parent && ts.isCallExpression(n.parent) && !isTranslatorCall(n.parent);
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) {
      if (!skip(n)) out.push({ text: n.text, pos: n.getStart(src), argument });
    } else if (ts.isTemplateExpression(n)) {
      if (!skip(n)) {
        out.push({ text: n.head.text, pos: n.head.getStart(src), argument });
        for (const span of n.templateSpans)
          out.push({ text: span.literal.text, pos: span.literal.getStart(src), argument });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return out;
}

/** Keys the code names: t('a.b'), keypath="a.b" (or bound, with quoted keys), t(`a.${x}`) (its prefix `a.`). */
function usedKeys(code: string): { key: string; prefix: boolean; pos: number }[] {
  const out: { key: string; prefix: boolean; pos: number }[] = [];
  const names = [...TRANSLATORS].map((n) => n.replace('$', '\\$')).join('|');
  const call = new RegExp(`(?<![\\w$.])(?:${names})\\(\\s*(['"\`])((?:(?!\\1)[^\\\\]|\\\\.)*?)\\1`, 'g');
  for (const m of code.matchAll(call)) {
    const body = m[2];
    const dollar = m[1] === '`' ? body.indexOf('${') : -1;
    if (dollar === 0) continue; // wholly computed: nothing to check statically
    out.push({ key: dollar > 0 ? body.slice(0, dollar) : body, prefix: dollar > 0, pos: m.index });
  }
  for (const m of code.matchAll(/(?<![:\w-])keypath="([^"]+)"/g))
    out.push({ key: m[1], prefix: false, pos: m.index });
  // A bound keypath (:keypath="cond ? 'a.b' : 'a.c'"): each quoted key in it.
  for (const m of code.matchAll(/:keypath="([^"]+)"/g))
    for (const k of m[1].matchAll(/'([\w.-]+)'/g)) out.push({ key: k[1], prefix: false, pos: m.index });
  return out;
}

/** Every .vue and .ts file under `dir`. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(vue|ts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const lineAt = (text: string, offset: number) => text.slice(0, offset).split('\n').length;

/** Hard-coded text in one renderer file (.vue: template and script; .ts: script). */
export function hardCoded(file: string, text = readFileSync(file, 'utf8')): Problem[] {
  const problems: Problem[] = [];
  const report = (offset: number, what: string) =>
    problems.push({ file, line: lineAt(text, offset), message: `hard-coded text: ${what}` });
  const scan = (code: string, base: number, ext: string, display: boolean) => {
    for (const l of literals(code, `x.${ext}`)) {
      // In what a template shows, a single identifier handed to a helper (shown('name'), phaseLabel('starting'))
      // is a key or an enum value, not text; anything else with letters is shown as it is.
      const identifier = l.argument && /^[A-Za-z][\w-]*$/.test(l.text);
      if (display ? needsTranslation(l.text) && !identifier : prose(l.text))
        report(base + l.pos, JSON.stringify(l.text.trim()));
    }
  };

  if (!file.endsWith('.vue')) {
    scan(text, 0, 'ts', false);
    return problems;
  }
  const { descriptor } = parseSfc(text, { filename: file });
  for (const block of [descriptor.script, descriptor.scriptSetup])
    if (block) scan(block.content, block.loc.start.offset, block.lang ?? 'js', false);
  const ast = descriptor.template?.ast;
  if (!ast) return problems;

  type Node = {
    type: number;
    tag?: string;
    content?: unknown;
    children?: Node[];
    props?: Node[];
    name?: string;
    value?: { content: string; loc: { start: { offset: number } } };
    arg?: { content?: string };
    exp?: { content: string; loc: { start: { offset: number } } };
    loc: { start: { offset: number } };
  };
  // NodeTypes of @vue/compiler-core: ELEMENT 1, TEXT 2, INTERPOLATION 5, ATTRIBUTE 6, DIRECTIVE 7.
  const walk = (node: Node, literal: boolean) => {
    if (node.type === 2 && !literal && needsTranslation(String(node.content)))
      report(node.loc.start.offset, JSON.stringify(String(node.content).trim()));
    if (node.type === 5 && !literal) {
      const exp = node.content as { content: string; loc: { start: { offset: number } } };
      scan(`(${exp.content})`, exp.loc.start.offset - 1, 'ts', true);
    }
    if (node.type === 1) {
      for (const p of node.props ?? []) {
        if (p.type === 6 && p.value && VISIBLE_ATTRIBUTES.has(p.name!) && needsTranslation(p.value.content))
          report(p.value.loc.start.offset, `${p.name}="${p.value.content}"`);
        if (p.type === 7 && p.name === 'bind' && p.exp && VISIBLE_ATTRIBUTES.has(p.arg?.content ?? ''))
          scan(`(${p.exp.content})`, p.exp.loc.start.offset - 1, 'ts', true);
      }
      const inside = literal || node.tag === 'kbd' || node.tag === 'code';
      for (const c of node.children ?? []) walk(c, inside);
    }
  };
  for (const c of (ast as unknown as Node).children ?? []) walk(c, false);
  return problems;
}

/** Keys named in `files` that the catalogue (English) lacks. */
export function unknownKeys(files: string[], keys: Map<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const all = [...keys.keys()];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const u of usedKeys(text)) {
      const ok = u.prefix ? all.some((k) => k.startsWith(u.key)) : keys.has(u.key);
      if (!ok)
        problems.push({
          file,
          line: lineAt(text, u.pos),
          message: u.prefix ? `no message key starts with "${u.key}"` : `"${u.key}" is not in en.json`,
        });
    }
  }
  return problems;
}

/** The whole check over this repository. */
export function checkAll(root = ROOT): Problem[] {
  const problems: Problem[] = [];
  for (const c of CATALOGUES) {
    const { problems: p, keys } = checkCatalogue(join(root, c.dir), SAME_AS_ENGLISH[c.name]);
    problems.push(...p);
    const files = c.sources.flatMap((s) => sourceFiles(join(root, s)));
    problems.push(...unknownKeys(files, keys));
    // The UI's views and stores, and the report's writers: text a person reads comes from a catalogue.
    for (const f of files) problems.push(...hardCoded(f));
  }
  return problems;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const problems = checkAll();
  for (const p of problems) console.error(`${relative(ROOT, p.file)}:${p.line}: ${p.message}`);
  if (problems.length) {
    console.error(`check-i18n: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(
    `check-i18n: ${LANGUAGES.join(', ')}: every key in every language, no hard-coded text in views`,
  );
}
