// What every export returns: files by relative path → bytes, so that the CLI writes them into a folder and
// the app zips or downloads them; plus the JSON/text encoders the exporters share.

/** Relative path (no leading './') → file contents. */
export type ExportFiles = Map<string, Uint8Array>;

const encoder = new TextEncoder();

export function textBytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Pretty JSON as transformers and PEFT write it (2-space indent, trailing newline). */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(value, null, 2)}\n`);
}

/** The keys of `obj` in sorted order (PEFT and transformers write configs with sort_keys=True). */
export function sortKeys<T extends Record<string, unknown>>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return out as T;
}

/** Concatenates chunks into one buffer (large JSONL files are built line by line, never as one string). */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
