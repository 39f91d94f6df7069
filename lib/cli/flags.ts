import { parseArgs } from 'node:util';
import { describeRange, expected, UsageError } from '../../shared/expected.ts';

/**
 * One shape for every command's flags: name -> kind, default, environment variable, help. Parsing
 * (node's own `util.parseArgs`), typed conversion, the sharp-style errors and `--help` all come from the
 * table, so no command reads its argv by hand.
 */

/** How a flag's text becomes a value. */
export type FlagKind = 'int' | 'float' | 'string' | 'boolean' | 'enum' | 'int-list' | 'list';

/** One flag. */
export interface FlagSpec {
  readonly kind: FlagKind;
  readonly help: string;
  /** The value when the flag (and its environment variable) is absent; none means undefined. */
  readonly default?: number | string | boolean | readonly number[] | readonly string[];
  /** An environment variable read when the flag is absent (flags win over it). */
  readonly env?: string;
  /** Bounds for numbers (and each item of an int-list). */
  readonly min?: number;
  readonly max?: number;
  /** Allowed values of an enum. */
  readonly values?: readonly string[];
  /** A shape strings (and each item of a list) must match, with its description for the error. */
  readonly pattern?: { readonly regex: RegExp; readonly description: string };
  /** Shown in --help instead of the default value. */
  readonly defaultLabel?: string;
  /** Left out of --help (internal plumbing such as a benchmark's child job). */
  readonly hidden?: boolean;
}

/** A command's flags by name (without the leading dashes). */
export type FlagTable = Readonly<Record<string, FlagSpec>>;

type ValueOf<S extends FlagSpec> = S['kind'] extends 'int' | 'float'
  ? number
  : S['kind'] extends 'boolean'
    ? boolean
    : S['kind'] extends 'int-list'
      ? number[]
      : S['kind'] extends 'list'
        ? string[]
        : S['kind'] extends 'enum'
          ? S['values'] extends readonly (infer V)[]
            ? V
            : string
          : string;

/** The typed values of a table: flags with a default (and booleans) always have one. */
export type FlagValues<T extends FlagTable> = {
  -readonly [K in keyof T]: T[K] extends { readonly default: unknown } ? ValueOf<T[K]> : T[K]['kind'] extends 'boolean' ? boolean : ValueOf<T[K]> | undefined;
};

/** What {@link parseFlags} returns. */
export interface ParsedFlags<T extends FlagTable> {
  readonly values: FlagValues<T>;
  /** Flags given on the command line or through their environment variable (not defaults). */
  readonly given: ReadonlySet<string>;
  readonly positionals: string[];
  readonly help: boolean;
}

/** Positional arguments a command takes. */
export interface PositionalSpec {
  readonly min: number;
  readonly max: number;
  /** How they read in usage and errors, e.g. "<model.json> <out.onnx>". */
  readonly names: string;
}

function parseNumber(spec: FlagSpec, source: string, raw: string): number {
  const integer = spec.kind !== 'float';
  const what = describeRange(integer ? 'integer' : 'number', spec.min, spec.max);
  const value = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) throw expected(what, source, raw);
  if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) throw expected(what, source, raw);
  return value;
}

function checkPattern(spec: FlagSpec, source: string, raw: string, item: string): void {
  if (spec.pattern && !spec.pattern.regex.test(item)) throw expected(spec.pattern.description, source, raw);
}

/** Converts one flag's raw text (or texts, for repeated list flags) to its typed value; errors name `source`. */
export function convertFlag(spec: FlagSpec, source: string, raw: string | readonly string[]): unknown {
  const texts = typeof raw === 'string' ? [raw] : raw;
  if (spec.kind === 'int-list') {
    const items = texts.flatMap((v) => v.split(','));
    return [...new Set(items.map((item) => parseNumber(spec, source, item)))].sort((a, b) => a - b);
  }
  if (spec.kind === 'list') {
    const joined = texts.join(',');
    const items = joined
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length === 0) throw expected(spec.pattern?.description ?? 'a comma-separated list', source, joined);
    for (const item of items) checkPattern(spec, source, joined, item);
    return items;
  }
  // A repeated single-valued flag: the last one wins, as with most command lines.
  const last = texts[texts.length - 1] ?? '';
  switch (spec.kind) {
    case 'int':
    case 'float':
      return parseNumber(spec, source, last);
    case 'enum':
      if (!spec.values?.includes(last)) throw expected(`one of ${(spec.values ?? []).join(', ')}`, source, last);
      return last;
    case 'boolean':
      if (!['true', 'false', '1', '0'].includes(last)) throw expected('true, false, 1 or 0', source, last);
      return last === 'true' || last === '1';
    default:
      if (last === '') throw expected(spec.pattern?.description ?? 'a non-empty value', source, last);
      checkPattern(spec, source, last, last);
      return last;
  }
}

/**
 * Parses argv against a table. Unknown flags, missing values, bad values and a wrong number of
 * positionals are errors naming what is wrong; values come from the flag, else its environment
 * variable, else its default.
 */
export function parseFlags<T extends FlagTable>(
  table: T,
  argv: readonly string[],
  options: { env?: NodeJS.ProcessEnv; positionals?: PositionalSpec } = {},
): ParsedFlags<T> {
  const env = options.env ?? process.env;
  const nodeOptions: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { help: { type: 'boolean' } };
  for (const [name, spec] of Object.entries(table)) {
    nodeOptions[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string', multiple: spec.kind === 'int-list' || spec.kind === 'list' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options: nodeOptions, strict: true, allowPositionals: options.positionals !== undefined });
  } catch (err) {
    // node's messages are clear ("Unknown option '--foo'"); its advice about '--' separators is not ours.
    const first = ((err as Error).message.split('\n')[0] ?? '').split('. To specify')[0]!.replace(/\.$/, '');
    const ambiguous = /^Option '(--[^']+)' argument is ambiguous/.exec(first);
    throw new UsageError(ambiguous ? `${first}: write ${ambiguous[1]}=<value> for a value that starts with '-'` : first);
  }
  const raw = parsed.values as Record<string, string | string[] | boolean | undefined>;
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [name, spec] of Object.entries(table)) {
    const flag = raw[name];
    const fromEnv = spec.env !== undefined && env[spec.env] !== undefined && env[spec.env] !== '' ? env[spec.env] : undefined;
    if (typeof flag === 'boolean') {
      values[name] = flag;
      given.add(name);
    } else if (flag !== undefined) {
      values[name] = convertFlag(spec, `--${name}`, flag);
      given.add(name);
    } else if (fromEnv !== undefined) {
      values[name] = convertFlag(spec, spec.env!, fromEnv);
      given.add(name);
    } else {
      values[name] = spec.kind === 'boolean' ? (spec.default ?? false) : Array.isArray(spec.default) ? [...spec.default] : spec.default;
    }
  }
  const positionals = parsed.positionals;
  const help = raw.help === true;
  const p = options.positionals;
  if (p && !help && (positionals.length < p.min || positionals.length > p.max)) {
    const count = p.min === p.max ? `${p.min}` : `${p.min} to ${p.max}`;
    throw expected(`${count} argument${p.max === 1 ? '' : 's'}`, p.names, positionals.length ? positionals.join(' ') : undefined);
  }
  return { values: values as FlagValues<T>, given, positionals, help };
}

function shownDefault(spec: FlagSpec): string | null {
  if (spec.defaultLabel !== undefined) return spec.defaultLabel;
  const d = spec.default;
  if (d === undefined || (spec.kind === 'boolean' && d === false)) return null;
  if (Array.isArray(d)) return d.length > 0 ? d.join(',') : 'none';
  return d === '' ? null : String(d);
}

/** The --help text of a command: usage, description, then one line per flag with its default and variable. */
export function formatHelp(usage: string, description: string, table: FlagTable): string {
  const rows = Object.entries(table)
    .filter(([, spec]) => !spec.hidden)
    .map(([name, spec]) => {
      const value =
        spec.kind === 'boolean'
          ? ''
          : spec.kind === 'enum'
            ? ` <${(spec.values ?? []).join('|')}>`
            : ` <${spec.kind === 'int-list' || spec.kind === 'list' ? 'a,b,...' : spec.kind}>`;
      const left = `--${name}${value.length > 40 ? ' <...>' : value}`;
      const def = shownDefault(spec);
      const notes = [spec.env ? `env ${spec.env}` : null, def !== null ? `default: ${def}` : null].filter(Boolean).join('; ');
      return [left, `${spec.help}${notes ? ` [${notes}]` : ''}`] as const;
    });
  rows.push(['--help', 'print this help']);
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = rows.map(([l, h]) => (l.length + 2 > width ? `  ${l}\n  ${' '.repeat(width)}${h}` : `  ${l.padEnd(width)}${h}`));
  return [`Usage: ${usage}`, '', description, '', 'Flags:', ...lines].join('\n');
}
