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

/** A decimal number as people write one (1, -0.5, 1e-4); not hex, binary, Infinity or an empty string. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses argv against `flags` (plus --backend, checked here for every command). `positionals`: how many
 * plain arguments the command takes (default none); one more is an error that names it.
 */
export function parse(argv: string[], flags: FlagSpec, positionalCount = 0): Parsed {
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { backend: { type: 'string' }, ...flags },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional.*$/s, ''));
  }
  if (positionals.length > positionalCount) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[positionalCount])}`);
  const backend = values.backend;
  if (backend !== undefined && backend !== 'cpu' && backend !== 'webgpu')
    throw new UsageError(`--backend must be cpu or webgpu, got ${backend}`);
  const str = (n: string) => {
    const v = values[n];
    return typeof v === 'string' ? v : undefined;
  };
  const num = (n: string) => {
    const v = str(n);
    if (v === undefined) return undefined;
    const x = Number(v.trim());
    if (!DECIMAL.test(v.trim()) || !Number.isFinite(x)) throw new UsageError(`--${n} must be a number, got ${JSON.stringify(v)}`);
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
