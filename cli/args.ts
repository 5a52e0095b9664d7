// Argument parsing for the CLI: strict (an unknown flag is an error that names it), typed getters.
import { parseArgs } from 'node:util';

export class UsageError extends Error {}

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

export interface Parsed {
  positionals: string[];
  str(name: string): string | undefined;
  need(name: string): string;
  num(name: string): number | undefined;
  int(name: string): number | undefined;
  bool(name: string): boolean;
}

export function parse(argv: string[], flags: FlagSpec): Parsed {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { backend: { type: 'string' }, ...flags }, allowPositionals: true, strict: true }));
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  const str = (n: string) => {
    const v = values[n];
    return typeof v === 'string' ? v : undefined;
  };
  const num = (n: string) => {
    const v = str(n);
    if (v === undefined) return undefined;
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${n} must be a number, got ${JSON.stringify(v)}`);
    return x;
  };
  return {
    positionals,
    str,
    need(n) {
      const v = str(n);
      if (v === undefined) throw new UsageError(`--${n} is required`);
      return v;
    },
    num,
    int(n) {
      const x = num(n);
      if (x !== undefined && !Number.isInteger(x)) throw new UsageError(`--${n} must be an integer, got ${x}`);
      return x;
    },
    bool: (n) => values[n] === true,
  };
}
