// CSV / TSV through papaparse (quotes, embedded newlines): the first row names the columns; each further row
// becomes a null-prototype record keyed by column name, tagged with the line the row starts on.

import Papa from 'papaparse';
import { DataError } from './errors';
import type { RawRecord } from './json';
import { readWholeText } from './read';

export async function csvRecords(
  blob: Blob,
  fileName: string,
  opts: { delimiter?: string; maxBytes?: number; onProgress?: (bytesRead: number, total: number) => void } = {},
): Promise<RawRecord[]> {
  const text = await readWholeText(blob, fileName, 'CSV', opts.maxBytes, opts.onProgress);
  // The line ending of the first line is the file's (as papaparse would guess, but decided here, explicitly).
  const firstLf = text.indexOf('\n');
  const newline = firstLf > 0 && text[firstLf - 1] === '\r' ? '\r\n' : '\n';

  let header: string[] | null = null;
  const out: RawRecord[] = [];
  let failure: DataError | null = null;
  // Line bookkeeping: `counted` chars of `text` have been scanned for '\n'; `line` is the line at `counted`.
  let counted = 0;
  let line = 1;
  let prevCursor = 0;
  const lineAt = (pos: number): number => {
    for (; counted < pos; counted++) if (text.charCodeAt(counted) === 0x0a) line++;
    return line;
  };

  Papa.parse<string[]>(text, {
    delimiter: opts.delimiter ?? ',',
    newline,
    skipEmptyLines: true,
    step(results, parser) {
      // The row starts where the previous one ended, after any empty lines papaparse skipped.
      let start = prevCursor;
      while (start < text.length && (text[start] === '\n' || text[start] === '\r')) start++;
      prevCursor = results.meta.cursor;
      const rowLine = lineAt(start);
      const fail = (what: string, field?: string) => {
        failure = new DataError(fileName, rowLine, what, field);
        parser.abort();
      };
      if (results.errors.length > 0) {
        const e = results.errors[0];
        if (e.code === 'MissingQuotes') return fail('unterminated quoted field');
        if (e.code === 'InvalidQuotes') return fail('malformed quotes (a quoted field must end at a delimiter or the end of the line)');
        return fail(`CSV error: ${e.message}`);
      }
      const row = results.data;
      if (header === null) {
        header = row.map((h) => h.trim());
        const seen = new Set<string>();
        for (const h of header) {
          if (h !== '' && seen.has(h)) return fail(`duplicate column name "${h}"`, h);
          seen.add(h);
        }
        return;
      }
      if (row.length !== header.length) {
        return fail(`row has ${row.length} field${row.length === 1 ? '' : 's'}, the header has ${header.length} (ragged CSV)`);
      }
      const rec: Record<string, string> = Object.create(null);
      header.forEach((h, k) => {
        if (h !== '') rec[h] = row[k];
      });
      out.push({ line: rowLine, value: rec });
    },
  });
  if (failure) throw failure;
  return out;
}
