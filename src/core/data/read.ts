// Reading dataset files from a Blob: a streaming line reader (JSONL, TXT) that never holds more than one
// line, with a line-length cap that stops before an oversized line is accumulated; and a capped whole-file
// read for the formats that need it (JSON arrays, CSV). Both are strict UTF-8, BOM optional, LF or CRLF.

import { DataError } from './errors';

export const DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024;
/** JSON arrays and CSV files are parsed whole: they are limited to this size. */
export const DEFAULT_MAX_WHOLE_FILE_BYTES = 256 * 1024 * 1024;

export interface ReadOptions {
  /** Longest line accepted, in bytes (default 8 MiB). */
  maxLineBytes?: number;
  /** Called after each chunk with the bytes read so far and the file size. */
  onProgress?: (bytesRead: number, total: number) => void;
}

export interface Line {
  /** 1-based line number. */
  line: number;
  /** The line without its LF / CRLF terminator (and without the BOM on line 1). */
  text: string;
}

const LF = 0x0a;
const CR = 0x0d;

function hasBom(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The lines of a UTF-8 file, streamed chunk by chunk from `blob.stream()`. Throws a DataError naming the line
 * for invalid UTF-8, and for a line longer than `maxLineBytes` as soon as the cap is passed (the rest of that
 * line is never read).
 */
export async function* readLines(blob: Blob, fileName: string, opts: ReadOptions = {}): AsyncGenerator<Line> {
  const maxLineBytes = opts.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const reader = blob.stream().getReader();
  let parts: Uint8Array[] = [];
  let pending = 0; // bytes of the current line held in `parts`
  let lineNo = 1;
  let bytesRead = 0;

  const tooLong = () => new DataError(fileName, lineNo, `line longer than the ${maxLineBytes}-byte limit`);
  const finish = (bytes: Uint8Array): string => {
    let b = bytes;
    if (lineNo === 1 && hasBom(b)) b = b.subarray(3);
    if (b.length > 0 && b[b.length - 1] === CR) b = b.subarray(0, b.length - 1);
    try {
      return decoder.decode(b);
    } catch {
      throw new DataError(fileName, lineNo, 'invalid UTF-8');
    }
  };

  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const chunk = value as Uint8Array;
      bytesRead += chunk.length;
      let pos = 0;
      while (pos < chunk.length) {
        const nl = chunk.indexOf(LF, pos);
        const end = nl < 0 ? chunk.length : nl;
        if (pending + (end - pos) > maxLineBytes) throw tooLong();
        if (nl < 0) {
          parts.push(chunk.subarray(pos));
          pending += chunk.length - pos;
          break;
        }
        parts.push(chunk.subarray(pos, nl));
        const text = finish(concat(parts, pending + (nl - pos)));
        parts = [];
        pending = 0;
        yield { line: lineNo, text };
        lineNo++;
        pos = nl + 1;
      }
      opts.onProgress?.(bytesRead, blob.size);
    }
    if (pending > 0) yield { line: lineNo, text: finish(concat(parts, pending)) };
  } finally {
    parts = [];
    await reader.cancel().catch(() => {});
  }
}

/** The 1-based line containing the first invalid UTF-8 sequence of `bytes` (which failed to decode). */
function lineOfInvalidUtf8(bytes: Uint8Array): number {
  const d = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let line = 1;
  let start = 0;
  for (;;) {
    const nl = bytes.indexOf(LF, start);
    const end = nl < 0 ? bytes.length : nl;
    try {
      d.decode(bytes.subarray(start, end));
    } catch {
      return line;
    }
    if (nl < 0) return line;
    start = nl + 1;
    line++;
  }
}

/** The whole file as one string (BOM removed), refused above `maxBytes` before anything is read. */
export async function readWholeText(
  blob: Blob,
  fileName: string,
  what: string,
  maxBytes = DEFAULT_MAX_WHOLE_FILE_BYTES,
  onProgress?: (bytesRead: number, total: number) => void,
): Promise<string> {
  if (blob.size > maxBytes) {
    throw new DataError(
      fileName,
      1,
      `${what} files are read whole and are limited to ${Math.floor(maxBytes / (1024 * 1024))} MiB; this one is ${(blob.size / (1024 * 1024)).toFixed(1)} MiB (use JSONL for larger datasets)`,
    );
  }
  let bytes = new Uint8Array(await blob.arrayBuffer());
  onProgress?.(bytes.length, blob.size);
  if (hasBom(bytes)) bytes = bytes.subarray(3);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new DataError(fileName, lineOfInvalidUtf8(bytes), 'invalid UTF-8');
  }
}

/** The first non-whitespace character of the file (after a BOM), or '' for a blank start; reads 4 KiB. */
export async function firstChar(blob: Blob): Promise<string> {
  let b = new Uint8Array(await blob.slice(0, 4096).arrayBuffer());
  if (hasBom(b)) b = b.subarray(3);
  for (const c of b) {
    if (c === 0x20 || c === 0x09 || c === LF || c === CR) continue;
    return String.fromCharCode(c);
  }
  return '';
}
