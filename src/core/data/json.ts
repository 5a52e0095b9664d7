// JSON Lines (one object per line, streamed) and JSON arrays (read whole, capped, split into elements by a
// small scanner so that each record knows its line and a syntax error names the line of its record).

import { DataError } from './errors';
import { readLines, readWholeText, type ReadOptions } from './read';

/** One parsed record and the 1-based line it starts on. */
export interface RawRecord {
  line: number;
  value: unknown;
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

function parseRecord(text: string, fileName: string, line: number): RawRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DataError(fileName, line, `invalid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DataError(fileName, line, `a record must be a JSON object, got ${describe(value)}`);
  }
  return { line, value };
}

/** Records of a JSONL file; blank lines are skipped. A line that is not a JSON object throws, or, given
 *  `onBadRecord`, is reported there and skipped (the lines are independent, so reading can go on). */
export async function* jsonlRecords(
  blob: Blob,
  fileName: string,
  opts: ReadOptions & { onBadRecord?: (e: DataError) => void } = {},
): AsyncGenerator<RawRecord> {
  for await (const { line, text } of readLines(blob, fileName, opts)) {
    if (text.trim() === '') continue;
    let rec: RawRecord;
    try {
      rec = parseRecord(text, fileName, line);
    } catch (e) {
      if (!opts.onBadRecord || !(e instanceof DataError)) throw e;
      opts.onBadRecord(e);
      continue;
    }
    yield rec;
  }
}

const isWs = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/** Records of a file holding one top-level JSON array of objects. */
export async function jsonArrayRecords(
  blob: Blob,
  fileName: string,
  opts: { maxBytes?: number; onProgress?: ReadOptions['onProgress'] } = {},
): Promise<RawRecord[]> {
  const text = await readWholeText(blob, fileName, 'JSON', opts.maxBytes, opts.onProgress);
  const n = text.length;
  let i = 0;
  let line = 1;
  const skipWs = () => {
    while (i < n && isWs(text.charCodeAt(i))) {
      if (text.charCodeAt(i) === 0x0a) line++;
      i++;
    }
  };
  skipWs();
  if (i >= n) return [];
  if (text[i] !== '[') {
    throw new DataError(fileName, line, 'a .json dataset must be one array of records (or use JSON Lines: one object per line)');
  }
  i++;
  const out: RawRecord[] = [];
  skipWs();
  if (text[i] === ']') {
    i++;
  } else {
    for (;;) {
      skipWs();
      if (i >= n) throw new DataError(fileName, line, 'unterminated JSON array');
      const start = i;
      const startLine = line;
      let depth = 0;
      let inString = false;
      // Scan one element: up to the ',' or ']' that closes it at depth 0, outside strings.
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x0a) line++;
        if (inString) {
          if (c === 0x5c)
            i++; // backslash: skip the escaped char (never a newline in valid JSON)
          else if (c === 0x22) inString = false;
          continue;
        }
        if (c === 0x22) inString = true;
        else if (c === 0x7b || c === 0x5b) depth++;
        else if (c === 0x7d || c === 0x5d) {
          if (depth === 0) break;
          depth--;
        } else if (c === 0x2c && depth === 0) break;
      }
      if (i >= n) throw new DataError(fileName, startLine, 'unterminated JSON array (a record is not closed)');
      out.push(parseRecord(text.slice(start, i), fileName, startLine));
      if (text[i] === ']') {
        i++;
        break;
      }
      i++; // ','
    }
  }
  skipWs();
  if (i < n) throw new DataError(fileName, line, 'unexpected content after the JSON array');
  return out;
}
