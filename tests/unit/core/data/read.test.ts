// The streaming line reader: line endings, BOM, chunk boundaries, the line cap and invalid UTF-8.
import { describe, expect, it } from 'vitest';
import { readLines, type Line } from '../../../../src/core/data/read';
import { DataError } from '../../../../src/core/data/errors';

async function lines(blob: Blob, opts: Parameters<typeof readLines>[2] = {}): Promise<Line[]> {
  const out: Line[] = [];
  for await (const l of readLines(blob, 'f.jsonl', opts)) out.push(l);
  return out;
}

const texts = (ls: Line[]) => ls.map((l) => l.text);

describe('readLines', () => {
  it('splits LF and CRLF lines, numbering from 1', async () => {
    expect(await lines(new Blob(['a\nb\r\nc']))).toEqual([
      { line: 1, text: 'a' },
      { line: 2, text: 'b' },
      { line: 3, text: 'c' },
    ]);
    expect(texts(await lines(new Blob(['a\r\n\r\nb\r\n'])))).toEqual(['a', '', 'b']);
  });

  it('drops a UTF-8 BOM at the start only', async () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    expect(texts(await lines(new Blob([bom, 'x\n', bom, 'y'])))).toEqual(['x', '\ufeffy']);
  });

  it('joins lines and multi-byte characters split across chunks', async () => {
    const enc = new TextEncoder().encode('héllo wörld 🤖\nsecond ✓ line\n');
    // Every byte its own Blob part: Node streams one chunk per part.
    const parts = Array.from(enc, (b) => new Uint8Array([b]));
    expect(texts(await lines(new Blob(parts)))).toEqual(['héllo wörld 🤖', 'second ✓ line']);
  });

  it('reads many lines across many chunks', async () => {
    const want = Array.from({ length: 5000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}`);
    const whole = new TextEncoder().encode(want.join('\n') + '\n');
    const parts: BlobPart[] = [];
    for (let o = 0; o < whole.length; o += 4093) parts.push(whole.slice(o, o + 4093));
    const got = await lines(new Blob(parts));
    expect(texts(got)).toEqual(want);
    expect(got[4999].line).toBe(5000);
  });

  it('rejects a line over the cap as soon as the cap is passed, before reading the rest', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    const parts: BlobPart[] = ['{"ok":1}\n{"text":"'];
    for (let i = 0; i < 1024; i++) parts.push(chunk); // a 64 MiB line
    parts.push('"}\n');
    const blob = new Blob(parts);
    let maxRead = 0;
    const err = await lines(blob, { onProgress: (n) => (maxRead = n) }).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toBe('f.jsonl:2: line longer than the 8388608-byte limit');
    expect(err.line).toBe(2);
    // It stopped around the 8 MiB cap: most of the 64 MiB line was never read.
    expect(maxRead).toBeLessThan(9 * 1024 * 1024);
  });

  it('honours a configurable cap', async () => {
    await expect(lines(new Blob(['short\n', 'x'.repeat(101), '\n']), { maxLineBytes: 100 })).rejects.toThrow(
      'f.jsonl:2: line longer than the 100-byte limit',
    );
    expect(texts(await lines(new Blob(['x'.repeat(100)]), { maxLineBytes: 100 }))).toEqual(['x'.repeat(100)]);
  });

  it('rejects invalid UTF-8 naming the line', async () => {
    const bad = new Uint8Array([0x61, 0xff, 0x62]);
    const err = await lines(new Blob(['ok\nok\n', bad, '\nok'])).catch((e) => e);
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toBe('f.jsonl:3: invalid UTF-8');
    // A truncated multi-byte sequence at the end of the file too.
    await expect(lines(new Blob(['ok\n', new Uint8Array([0xe2, 0x82])]))).rejects.toThrow('f.jsonl:2: invalid UTF-8');
  });

  it('reports progress up to the file size', async () => {
    const seen: Array<[number, number]> = [];
    await lines(new Blob(['a\n', 'b\n']), { onProgress: (n, t) => seen.push([n, t]) });
    expect(seen[seen.length - 1]).toEqual([4, 4]);
  });
});
