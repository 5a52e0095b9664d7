// Dataset import: every file type and record format, detection, override and column mapping, and every
// rejection with its file, line and field.
import { describe, expect, it } from 'vitest';
import { importDataset, type ImportOptions } from '../../../../src/core/data/import';
import { DataError, DataErrors } from '../../../../src/core/data/errors';
import { WhetstoneError } from '../../../../src/core/errors';

const blob = (...parts: BlobPart[]) => new Blob(parts);
const jsonl = (...records: unknown[]) => blob(records.map((r) => JSON.stringify(r)).join('\n') + '\n');

async function failure(b: Blob, name: string, opts?: ImportOptions): Promise<DataError> {
  const e = await importDataset(b, name, opts).then(
    () => null,
    (err) => err,
  );
  if (!(e instanceof DataError)) throw new Error(`expected a DataError, got ${e}`);
  expect(e).toBeInstanceOf(WhetstoneError);
  expect(e.kind).toBe('data');
  return e;
}

const conv = [
  { role: 'system', content: 'Be kind.' },
  { role: 'user', content: 'Hi' },
  { role: 'assistant', content: 'Hello!' },
];

describe('record formats (JSONL)', () => {
  it('raw text', async () => {
    const d = await importDataset(jsonl({ text: 'one' }, { text: 'two', id: 7 }), 'd.jsonl');
    expect(d).toEqual({ format: 'text', examples: [{ text: 'one' }, { text: 'two' }], lines: [1, 2], fileName: 'd.jsonl' });
  });

  it('prompt-completion', async () => {
    const d = await importDataset(jsonl({ prompt: 'p', completion: 'c' }), 'd.jsonl');
    expect(d.format).toBe('prompt-completion');
    expect(d.examples).toEqual([{ prompt: 'p', completion: 'c' }]);
  });

  it('messages', async () => {
    const d = await importDataset(jsonl({ messages: conv }), 'd.jsonl');
    expect(d.format).toBe('messages');
    expect(d.examples).toEqual([{ messages: conv }]);
  });

  it('ShareGPT → messages', async () => {
    const d = await importDataset(
      jsonl({
        conversations: [
          { from: 'system', value: 'Be kind.' },
          { from: 'human', value: 'Hi' },
          { from: 'gpt', value: 'Hello!' },
        ],
      }),
      'd.jsonl',
    );
    expect(d.format).toBe('sharegpt');
    expect(d.examples).toEqual([{ messages: conv }]);
  });

  it('Alpaca → messages (user = instruction + "\\n" + input when input is not empty)', async () => {
    const d = await importDataset(
      jsonl(
        { instruction: 'Translate', input: 'chat', output: 'cat' },
        { instruction: 'Say hi', input: '', output: 'hi' },
        { instruction: 'Say hi', output: 'hi', system: 'Be kind.' },
      ),
      'd.jsonl',
    );
    expect(d.format).toBe('alpaca');
    expect(d.examples).toEqual([
      {
        messages: [
          { role: 'user', content: 'Translate\nchat' },
          { role: 'assistant', content: 'cat' },
        ],
      },
      {
        messages: [
          { role: 'user', content: 'Say hi' },
          { role: 'assistant', content: 'hi' },
        ],
      },
      {
        messages: [
          { role: 'system', content: 'Be kind.' },
          { role: 'user', content: 'Say hi' },
          { role: 'assistant', content: 'hi' },
        ],
      },
    ]);
  });

  it('skips blank lines and keeps line numbers', async () => {
    const d = await importDataset(blob('\n{"text":"a"}\n\n  \n{"text":"b"}'), 'd.jsonl');
    expect(d.lines).toEqual([2, 5]);
  });

  it('accepts a BOM and CRLF', async () => {
    const d = await importDataset(blob(new Uint8Array([0xef, 0xbb, 0xbf]), '{"text":"a"}\r\n{"text":"b\\r\\nc"}\r\n'), 'd.jsonl');
    expect(d.examples).toEqual([{ text: 'a' }, { text: 'b\r\nc' }]);
  });

  it('reports progress', async () => {
    const seen: number[] = [];
    const b = jsonl({ text: 'a' });
    await importDataset(b, 'd.jsonl', { onProgress: (n, total) => (expect(total).toBe(b.size), seen.push(n)) });
    expect(seen[seen.length - 1]).toBe(b.size);
  });
});

describe('JSON arrays', () => {
  it('reads an array of records with their lines', async () => {
    const d = await importDataset(
      blob('[\n  {"prompt": "a,]", "completion": "}["},\n  {\n    "prompt": "\\"q\\"",\n    "completion": "c"\n  }\n]\n'),
      'd.json',
    );
    expect(d.format).toBe('prompt-completion');
    expect(d.examples).toEqual([
      { prompt: 'a,]', completion: '}[' },
      { prompt: '"q"', completion: 'c' },
    ]);
    expect(d.lines).toEqual([2, 3]);
  });

  it('reads a .json file that is really JSON Lines', async () => {
    const d = await importDataset(jsonl({ text: 'a' }, { text: 'b' }), 'd.json');
    expect(d.examples).toHaveLength(2);
  });

  it('names the line of a bad record', async () => {
    const e = await failure(blob('[\n{"text": "a"},\n{"text": "b",}\n]'), 'd.json');
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/^d\.json:3: invalid JSON/);
  });

  it('rejects an unterminated array, trailing content, non-object records', async () => {
    expect((await failure(blob('[{"text": "a"},\n{"text": "b"}'), 'd.json')).message).toMatch(/^d\.json:2: unterminated JSON array/);
    expect((await failure(blob('[{"text": "a"}]\nx'), 'd.json')).message).toBe('d.json:2: unexpected content after the JSON array');
    expect((await failure(blob('[{"text": "a"},\n 3]'), 'd.json')).message).toBe('d.json:2: a record must be a JSON object, got a number');
    expect((await failure(blob('[]'), 'd.json')).message).toBe('d.json:1: empty file (no records)');
  });

  it('caps the size of files read whole', async () => {
    const e = await failure(blob('[', ' '.repeat(2000), ']'), 'd.json', { maxWholeFileBytes: 1000 });
    expect(e.message).toMatch(/^d\.json:1: JSON files are read whole and are limited to/);
  });

  it('names the line of invalid UTF-8', async () => {
    const e = await failure(blob('[\n{"text": "a"},\n{"text": "', new Uint8Array([0xc3, 0x28]), '"}]'), 'd.json');
    expect(e.message).toBe('d.json:3: invalid UTF-8');
  });
});

describe('CSV', () => {
  it('maps columns by name: prompt,completion with quotes and embedded newlines', async () => {
    const csv = 'prompt,completion\n"Say ""hi""","hi,\nthere"\nplain,"multi\r\nline"\n';
    const d = await importDataset(blob(csv), 'd.csv');
    expect(d.format).toBe('prompt-completion');
    expect(d.examples).toEqual([
      { prompt: 'Say "hi"', completion: 'hi,\nthere' },
      { prompt: 'plain', completion: 'multi\r\nline' },
    ]);
    expect(d.lines).toEqual([2, 4]);
  });

  it('text, and instruction,input,output (Alpaca) with a BOM and CRLF', async () => {
    expect((await importDataset(blob('text\r\nfirst\r\n"second\r\ndoc"\r\n'), 'd.csv')).examples).toEqual([
      { text: 'first' },
      { text: 'second\r\ndoc' },
    ]);
    const d = await importDataset(
      blob(new Uint8Array([0xef, 0xbb, 0xbf]), 'instruction,input,output\r\nTranslate,chat,cat\r\nSay hi,,hi\r\n'),
      'd.csv',
    );
    expect(d.format).toBe('alpaca');
    expect(d.examples[1]).toEqual({
      messages: [
        { role: 'user', content: 'Say hi' },
        { role: 'assistant', content: 'hi' },
      ],
    });
  });

  it('TSV', async () => {
    expect((await importDataset(blob('prompt\tcompletion\na, b\tc\n'), 'd.tsv')).examples).toEqual([{ prompt: 'a, b', completion: 'c' }]);
  });

  it('maps other column names', async () => {
    const d = await importDataset(blob('question,answer,id\nQ1,A1,1\n'), 'd.csv', {
      columns: { prompt: 'question', completion: 'answer' },
    });
    expect(d.examples).toEqual([{ prompt: 'Q1', completion: 'A1' }]);
  });

  it('rejects ragged rows with the row line', async () => {
    const e = await failure(blob('prompt,completion\na,b\n"x\ny",z,extra\n'), 'd.csv');
    expect(e.message).toBe('d.csv:3: row has 3 fields, the header has 2 (ragged CSV)');
  });

  it('rejects an unterminated quote', async () => {
    const e = await failure(blob('text\nok\n"never closed\nmore\n'), 'd.csv');
    expect(e.message).toBe('d.csv:3: unterminated quoted field');
  });

  it('rejects unknown columns and a header with no rows', async () => {
    expect((await failure(blob('a,b\n1,2\n'), 'd.csv')).message).toMatch(/^d\.csv:2: unknown schema \(fields "a", "b"\)/);
    expect((await failure(blob('prompt,completion\n'), 'd.csv')).message).toBe('d.csv:1: empty file (no records)');
    expect((await failure(blob('prompt,output\n1,2\n'), 'd.csv')).message).toBe('d.csv:2: missing field (field completion)');
    expect((await failure(blob('text,text\n1,2\n'), 'd.csv')).message).toBe('d.csv:1: duplicate column name "text" (field text)');
  });
});

describe('TXT', () => {
  it('reads documents separated by blank lines', async () => {
    const d = await importDataset(blob('First para\nstill first.\r\n\r\n\nSecond.\n   \nThird'), 'd.txt');
    expect(d).toEqual({
      format: 'text',
      examples: [{ text: 'First para\nstill first.' }, { text: 'Second.' }, { text: 'Third' }],
      lines: [1, 5, 7],
      fileName: 'd.txt',
    });
  });

  it('rejects an empty or blank file and non-text formats', async () => {
    expect((await failure(blob(''), 'd.txt')).message).toBe('d.txt:1: empty file');
    expect((await failure(blob('\n \n'), 'd.txt')).message).toBe('d.txt:1: empty file (no text)');
    expect((await failure(blob('x'), 'd.txt', { format: 'messages' })).message).toMatch(/cannot be read as messages/);
  });

  it('rejects an oversized line', async () => {
    const e = await failure(blob('ok\n', 'y'.repeat(5000), '\n'), 'd.txt', { maxLineBytes: 4096 });
    expect(e.message).toBe('d.txt:2: line longer than the 4096-byte limit');
  });
});

describe('override and mapping', () => {
  it('reads records in an explicit format and reports the missing field', async () => {
    const d = await importDataset(jsonl({ text: 'x', prompt: 'p', completion: 'c' }), 'd.jsonl', { format: 'text' });
    expect(d.examples).toEqual([{ text: 'x' }]);
    const e = await failure(jsonl({ prompt: 'p', completion: 'c' }, { prompt: 'p' }), 'd.jsonl', { format: 'prompt-completion' });
    expect(e.message).toBe('d.jsonl:2: missing field (field completion)');
    expect(e.field).toBe('completion');
  });

  it('maps JSON keys, including nested chat lists', async () => {
    const d = await importDataset(jsonl({ q: 'a', a: 'b' }), 'd.jsonl', { columns: { prompt: 'q', completion: 'a' } });
    expect(d.examples).toEqual([{ prompt: 'a', completion: 'b' }]);
    const m = await importDataset(jsonl({ dialog: conv }), 'd.jsonl', { columns: { messages: 'dialog' } });
    expect(m.examples).toEqual([{ messages: conv }]);
    expect((await failure(jsonl({ dialog: 'x' }), 'd.jsonl', { columns: { messages: 'dialog' } })).message).toBe(
      'd.jsonl:1: must be an array, got string (field dialog)',
    );
  });

  it('rejects a bad mapping', async () => {
    expect((await failure(jsonl({ text: 'a' }), 'd.jsonl', { columns: { nope: 'x' } as never })).message).toMatch(/unknown field "nope"/);
  });
});

describe('rejections', () => {
  it('bad JSON on line N', async () => {
    const e = await failure(blob('{"text":"a"}\n{"text":"b"}\n{"text": "c",,}\n{"text":"d"}\n'), 'data.jsonl');
    expect(e.line).toBe(3);
    expect(e.file).toBe('data.jsonl');
    expect(e.message).toMatch(/^data\.jsonl:3: invalid JSON: /);
  });

  it('a line that is not an object', async () => {
    expect((await failure(blob('{"text":"a"}\n[1,2]\n'), 'd.jsonl')).message).toBe(
      'd.jsonl:2: a record must be a JSON object, got an array',
    );
    expect((await failure(blob('null\n'), 'd.jsonl')).message).toBe('d.jsonl:1: a record must be a JSON object, got null');
  });

  it('empty files', async () => {
    expect((await failure(blob(''), 'd.jsonl')).message).toBe('d.jsonl:1: empty file');
    expect((await failure(blob('\n\n  \n'), 'd.jsonl')).message).toBe('d.jsonl:1: empty file (no records)');
    expect((await failure(blob(new Uint8Array([0xef, 0xbb, 0xbf])), 'd.jsonl')).message).toBe('d.jsonl:1: empty file (no records)');
  });

  it('mixed schemas', async () => {
    const e = await failure(jsonl({ text: 'a' }, { text: 'b' }, { prompt: 'p', completion: 'c' }), 'd.jsonl');
    expect(e.message).toBe('d.jsonl:3: record is prompt-completion but the first record (line 1) is text: mixed schemas');
  });

  it('unknown schemas and near misses', async () => {
    expect((await failure(jsonl({ question: 'q', answer: 'a' }), 'd.jsonl')).message).toMatch(
      /^d\.jsonl:1: unknown schema \(fields "question", "answer"\); expected/,
    );
    expect((await failure(jsonl({ prompt: 'q' }), 'd.jsonl')).message).toBe('d.jsonl:1: missing field (field completion)');
    expect((await failure(jsonl({ text: 'a' }, { id: 1 }), 'd.jsonl')).message).toMatch(/^d\.jsonl:2: unknown schema/);
  });

  it('wrong field types', async () => {
    expect((await failure(jsonl({ text: 5 }), 'd.jsonl')).message).toBe('d.jsonl:1: must be a string, got number (field text)');
    expect((await failure(jsonl({ prompt: 'p', completion: null }), 'd.jsonl')).message).toBe(
      'd.jsonl:1: must be a string, got null (field completion)',
    );
    expect((await failure(jsonl({ messages: [] }), 'd.jsonl')).message).toBe('d.jsonl:1: must not be empty (field messages)');
    expect((await failure(jsonl({ messages: ['hi'] }), 'd.jsonl')).message).toBe(
      'd.jsonl:1: must be an object, got string (field messages[0])',
    );
    expect((await failure(jsonl({ messages: [{ role: 'user', content: null }] }), 'd.jsonl')).message).toBe(
      'd.jsonl:1: must be a string, got null (field messages[0].content)',
    );
    expect((await failure(jsonl({ messages: [{ content: 'x' }] }), 'd.jsonl')).message).toBe(
      'd.jsonl:1: missing field (field messages[0].role)',
    );
    expect((await failure(jsonl({ instruction: 'i', input: 3, output: 'o' }), 'd.jsonl')).message).toBe(
      'd.jsonl:1: must be a string, got number (field input)',
    );
  });

  it('unknown roles', async () => {
    const e = await failure(jsonl({ messages: conv }, { messages: [...conv, { role: 'tool', content: '{}' }] }), 'd.jsonl');
    expect(e.message).toBe('d.jsonl:2: unknown role "tool" (expected system, user, assistant) (field messages[3].role)');
    expect(e.field).toBe('messages[3].role');
    const s = await failure(jsonl({ conversations: [{ from: 'bot', value: 'x' }] }), 'd.jsonl');
    expect(s.message).toBe('d.jsonl:1: unknown role "bot" (expected human, gpt, system) (field conversations[0].from)');
    // Inherited names are not roles.
    expect((await failure(jsonl({ conversations: [{ from: 'constructor', value: 'x' }] }), 'd.jsonl')).message).toMatch(
      /unknown role "constructor"/,
    );
  });

  it('an unknown file type', async () => {
    expect((await failure(blob('hello'), 'd.bin')).message).toBe('d.bin:1: unknown file type (expected .jsonl, .json, .csv, .tsv or .txt)');
  });

  it('nothing half-imported: a late error throws away everything', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => ({ text: `doc ${i}` }));
    const e = await failure(blob(records.map((r) => JSON.stringify(r)).join('\n') + '\n{"text": 1}\n'), 'd.jsonl');
    expect(e.line).toBe(1001);
  });

  it('a 64 MiB line is refused by the line cap', async () => {
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    const parts: BlobPart[] = ['{"text":"ok"}\n{"text":"'];
    for (let i = 0; i < 64; i++) parts.push(chunk);
    parts.push('"}\n');
    let read = 0;
    const e = await failure(new Blob(parts), 'big.jsonl', { onProgress: (n) => (read = n) });
    expect(e.message).toBe('big.jsonl:2: line longer than the 8388608-byte limit');
    expect(read).toBeLessThan(10 * 1024 * 1024);
  });
});

describe('prototype pollution', () => {
  it('__proto__ and constructor keys are never copied', async () => {
    const lines = [
      '{"__proto__": {"polluted": "yes"}, "text": "a"}',
      '{"constructor": {"prototype": {"polluted": "yes"}}, "text": "b"}',
      '{"text": "c", "__proto__": {"text": "hijack"}}',
    ].join('\n');
    const d = await importDataset(blob(lines), 'd.jsonl');
    expect(d.examples).toEqual([{ text: 'a' }, { text: 'b' }, { text: 'c' }]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    for (const e of d.examples) expect(Object.keys(e)).toEqual(['text']);
  });

  it('a record whose only fields are inherited names is an unknown schema', async () => {
    const e = await failure(blob('{"__proto__": {"text": "x"}}\n'), 'd.jsonl');
    expect(e.message).toMatch(/unknown schema/);
    // A mapping onto an inherited name does not read Object.prototype.
    expect((await failure(jsonl({ a: 1 }), 'd.jsonl', { columns: { text: 'constructor' } })).message).toMatch(/unknown schema/);
  });

  it('CSV columns named __proto__ / constructor', async () => {
    const d = await importDataset(blob('__proto__,text,constructor\nx,hello,y\n'), 'd.csv');
    expect(d.examples).toEqual([{ text: 'hello' }]);
    expect(({} as Record<string, unknown>).text).toBeUndefined();
    const m = await importDataset(blob('__proto__,constructor\np,c\n'), 'd.csv', {
      columns: { prompt: '__proto__', completion: 'constructor' },
    });
    expect(m.examples).toEqual([{ prompt: 'p', completion: 'c' }]);
  });
});

describe('collecting every error (collectErrors)', () => {
  const where = (e: DataError) => [e.file, e.line, e.field ?? null, e.message];

  it('lists each bad line of a JSONL file with its file, line and field, in line order', async () => {
    const file = blob(
      [
        '{"prompt": "p1", "completion": "c1"}',
        '{"prompt": "p2", "completion": "c2",,}',
        '{"prompt": "p3", "completion": "c3"}',
        '{"prompt": "p4", "completion": 4}',
        '',
        '{"prompt": "p6"}',
        '[1]',
        '{"text": "t"}',
        '{"prompt": "p9", "completion": "c9"}',
      ].join('\n'),
    );
    const e = await failure(file, 'd.jsonl', { collectErrors: 100 });
    expect(e).toBeInstanceOf(DataErrors);
    const all = (e as DataErrors).errors;
    expect(all.map((x) => x.line)).toEqual([2, 4, 6, 7, 8]);
    expect(where(all[1])).toEqual(['d.jsonl', 4, 'completion', 'd.jsonl:4: must be a string, got number (field completion)']);
    expect(where(all[2])).toEqual(['d.jsonl', 6, 'completion', 'd.jsonl:6: missing field (field completion)']);
    expect(all[0].message).toMatch(/^d\.jsonl:2: invalid JSON: /);
    expect(all[3].message).toBe('d.jsonl:7: a record must be a JSON object, got an array');
    expect(all[4].message).toBe('d.jsonl:8: record is text but the first record (line 1) is prompt-completion: mixed schemas');
    expect((e as DataErrors).truncated).toBe(false);
    // The aggregate is the first error, so code that reads one DataError still gets file, line and field.
    expect([e.file, e.line]).toEqual(['d.jsonl', 2]);
    expect(e.message).toMatch(/^d\.jsonl:2: invalid JSON: .* \(and 4 more errors\)$/);
  });

  it('stops at the limit and says there are more', async () => {
    const bad = Array.from({ length: 250 }, (_, i) => JSON.stringify({ text: i }));
    const e = (await failure(blob(bad.join('\n')), 'd.jsonl', { collectErrors: 100 })) as DataErrors;
    expect(e.errors).toHaveLength(100);
    expect(e.errors[99].line).toBe(100);
    expect(e.truncated).toBe(true);
    expect(e.message).toBe('d.jsonl:1: must be a string, got number (field text) (and 99+ more errors)');
  });

  it('one bad record is a plain list of one; without the option the first error ends the import as before', async () => {
    const file = () => jsonl({ text: 'a' }, { text: 1 }, { text: 2 });
    const one = await failure(file(), 'd.jsonl');
    expect(one).not.toBeInstanceOf(DataErrors);
    expect(one.line).toBe(2);
    const single = (await failure(jsonl({ text: 'a' }, { text: 1 }), 'd.jsonl', { collectErrors: 100 })) as DataErrors;
    expect(single.errors.map((x) => x.line)).toEqual([2]);
    expect(single.message).toBe('d.jsonl:2: must be a string, got number (field text)');
  });

  it('collects the record errors of CSV rows and JSON arrays too', async () => {
    const csv = (await failure(blob('prompt,answer\np,"a\nb"\nq,c\n'), 'd.csv', {
      collectErrors: 10,
      format: 'prompt-completion',
    })) as DataErrors;
    expect(csv.errors.map((x) => [x.line, x.field])).toEqual([
      [2, 'completion'],
      [4, 'completion'],
    ]);
    const arr = (await failure(blob('[\n{"text": "a"},\n{"text": 1},\n{"text": null}\n]'), 'd.json', { collectErrors: 10 })) as DataErrors;
    expect(arr.errors.map((x) => [x.line, x.field])).toEqual([
      [3, 'text'],
      [4, 'text'],
    ]);
  });

  it('a fatal error of the file (invalid UTF-8) ends the reading, after the record errors before it', async () => {
    const file = blob('{"text": 1}\n{"text": "ok"}\n{"text": "', new Uint8Array([0xff]), '"}\n{"text": 2}\n');
    const e = (await failure(file, 'd.jsonl', { collectErrors: 100 })) as DataErrors;
    expect(e.errors.map((x) => [x.line, x.message])).toEqual([
      [1, 'd.jsonl:1: must be a string, got number (field text)'],
      [3, 'd.jsonl:3: invalid UTF-8'],
    ]);
  });
});
