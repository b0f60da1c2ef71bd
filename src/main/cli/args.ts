// The CLI's option tables and their parser. Each command declares its options as data (one line per option:
// type, placeholder, default, help), and from that one table come the parsing, `station <command> --help`
// and the "did you mean --x?" for a mistyped option. Errors are one line, never Node's parseArgs text.
import { parseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** Placeholder of a string option's value in the usage, e.g. 'DIR' (default 'X'). */
  value?: string;
  default?: string | boolean;
  help: string;
}
export type OptionTable = Record<string, OptionSpec>;

export interface CommandSpec<O extends OptionTable = OptionTable> {
  name: string;
  /** Positional arguments in the synopsis, e.g. 'IMAGE...'; none: the command refuses positionals. */
  args?: string;
  /** One line for the command list of `station --help`. */
  summary: string;
  options: O;
  /** More lines for `station <command> --help`, after the options. */
  notes?: string[];
}

/** A string option's value (or undefined when it has no default), a boolean's true/false. */
export type OptionValues<O extends OptionTable> = {
  [K in keyof O]: O[K]['type'] extends 'boolean'
    ? boolean
    : O[K] extends { default: string }
      ? string
      : string | undefined;
};

export interface Parsed<O extends OptionTable> {
  /** The command's options and the global ones (--backend). */
  values: OptionValues<O> & OptionValues<typeof GLOBAL_OPTIONS>;
  positionals: string[];
  /** --help or -h was given: print the usage and do nothing else. */
  help: boolean;
}

/** A mistake in how the command was called: one line on stderr, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help the message points to. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options every command takes. */
export const GLOBAL_OPTIONS = {
  backend: {
    type: 'string',
    value: 'tensorflow-gpu|tensorflow|wasm|cpu',
    help: 'the tfjs backend (default: the fastest that loads; env STATION_BACKEND)',
  },
} as const satisfies OptionTable;

/** A value that may start with a dash without `=`: a negative number (e.g. --threshold -0.5). */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * Parse `argv` against the command's table (plus the global options and --help/-h). Throws UsageError,
 * with a suggestion for a mistyped option, on an unknown option, a missing or unexpected value, or a
 * positional the command does not take.
 */
export function parseCommand<O extends OptionTable>(cmd: CommandSpec<O>, argv: string[]): Parsed<O> {
  const table: OptionTable = { ...GLOBAL_OPTIONS, ...cmd.options };
  // Not strict: parseArgs only splits argv into tokens (knowing which options take a value); the checks and
  // their messages are ours.
  const types = Object.fromEntries(Object.entries(table).map(([name, o]) => [name, { type: o.type }]));
  const { tokens } = parseArgs({
    args: argv,
    options: types,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  if (tokens.some((t) => t.kind === 'option' && (t.name === 'help' || t.name === 'h')))
    return { values: defaults(table) as Parsed<O>['values'], positionals: [], help: true };
  const values = defaults(table);
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      if (!cmd.args) throw new UsageError(`unexpected argument "${t.value}"`, cmd.name);
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const spec = Object.hasOwn(table, t.name) ? table[t.name] : undefined;
    if (!spec) {
      const near = suggest(t.name, Object.keys(table));
      throw new UsageError(`unknown option ${t.rawName}${near ? `; did you mean --${near}?` : ''}`, cmd.name);
    }
    if (spec.type === 'boolean') {
      if (t.inlineValue) throw new UsageError(`${t.rawName} takes no value (got "${t.value}")`, cmd.name);
      values[t.name] = true;
      continue;
    }
    const value = t.value;
    const placeholder = `${t.rawName} ${spec.value ?? 'X'}`;
    if (value === undefined) throw new UsageError(`${t.rawName} needs a value (${placeholder})`, cmd.name);
    if (!t.inlineValue && value.startsWith('-') && !NEGATIVE_NUMBER.test(value))
      throw new UsageError(
        `${t.rawName} needs a value, got the option ${value} (for a value that starts with "-" write ${t.rawName}=${value})`,
        cmd.name,
      );
    values[t.name] = value;
  }
  return { values: values as Parsed<O>['values'], positionals, help: false };
}

function defaults(table: OptionTable): Record<string, string | boolean | undefined> {
  const out: Record<string, string | boolean | undefined> = {};
  for (const [name, spec] of Object.entries(table))
    out[name] = spec.default ?? (spec.type === 'boolean' ? false : undefined);
  return out;
}

/** The closest name to a mistyped one: a small edit distance, or the one it is the start of. */
export function suggest(word: string, names: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of names) {
    const d = name.startsWith(word) && word.length >= 3 ? 0.5 : editDistance(word, name);
    if (d <= Math.max(1, Math.min(3, Math.floor(name.length / 3))) && (!best || d < best.d))
      best = { name, d };
  }
  return best?.name;
}

/** Levenshtein distance, with a swap of two neighbours counting as one edit (--stirde -> --stride). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}

/** `station <command> --help`: the synopsis, one line per option (from the table), then the notes. */
export function commandUsage(cmd: CommandSpec): string {
  const table: OptionTable = { ...cmd.options, ...GLOBAL_OPTIONS };
  const rows = Object.entries(table).map(([name, spec]) => {
    const flag = spec.type === 'boolean' ? `--${name}` : `--${name} ${spec.value ?? 'X'}`;
    const dflt = spec.default !== undefined && spec.type === 'string' ? ` (default ${spec.default})` : '';
    return { flag, text: spec.help + dflt };
  });
  rows.push({ flag: '-h, --help', text: 'print this and exit' });
  const width = Math.min(34, Math.max(...rows.map((r) => r.flag.length)));
  const lines = [
    `station ${cmd.name}${cmd.args ? ` ${cmd.args}` : ''} [options]`,
    '',
    cmd.summary,
    '',
    'options:',
  ];
  for (const r of rows)
    lines.push(
      r.flag.length > width
        ? `  ${r.flag}\n  ${' '.repeat(width)}  ${r.text}`
        : `  ${r.flag.padEnd(width)}  ${r.text}`,
    );
  if (cmd.notes?.length) lines.push('', ...cmd.notes);
  return lines.join('\n');
}

/** A number option: undefined stays undefined; anything but a finite number is a usage error. */
export function numberOption(v: string | undefined, name: string, command?: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new UsageError(`--${name} must be a number (got "${v}")`, command);
  return n;
}

/** One of a fixed set of values, or a usage error that lists them (and the nearest one). */
export function choiceOption<T extends string>(
  v: string,
  name: string,
  choices: readonly T[],
  command?: string,
): T {
  if ((choices as readonly string[]).includes(v)) return v as T;
  const near = suggest(v, choices);
  throw new UsageError(
    `--${name} must be one of ${choices.join(', ')} (got "${v}")${near ? `; did you mean ${near}?` : ''}`,
    command,
  );
}
