// A read-only view of a folder of files (a Hugging Face model, a PEFT adapter, a tokenizer) that works the
// same over browser File objects, IndexedDB blobs and Node files: reads are by Blob, so nothing is held twice.

export interface FileSource {
  /** A label for messages, e.g. the folder path or "dropped files". */
  readonly label: string;
  /** Relative paths of the files present (no leading './'). */
  list(): string[];
  has(path: string): boolean;
  /** The file as a Blob (lazy: slicing reads only the slice). Throws when absent. */
  blob(path: string): Promise<Blob>;
}

export async function readText(source: FileSource, path: string): Promise<string> {
  return (await source.blob(path)).text();
}

export async function readJson<T = unknown>(source: FileSource, path: string): Promise<T> {
  const text = await readText(source, path);
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new SyntaxError(`${source.label}/${path}: invalid JSON: ${(e as Error).message}`);
  }
}

/** A FileSource over in-memory blobs or browser Files, keyed by relative path. */
export function blobSource(label: string, files: Record<string, Blob> | Map<string, Blob>): FileSource {
  const map = files instanceof Map ? files : new Map(Object.entries(files));
  return {
    label,
    list: () => [...map.keys()].sort(),
    has: (p) => map.has(p),
    async blob(p) {
      const b = map.get(p);
      if (!b) throw new Error(`${label}: missing file ${p}`);
      return b;
    },
  };
}

/** Browser Files (from a picker or a drop) → a FileSource; folder prefixes from webkitRelativePath are stripped. */
export function fileListSource(label: string, files: Iterable<File>): FileSource {
  const map = new Map<string, Blob>();
  for (const f of files) {
    const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
    const parts = rel.split('/');
    map.set(parts.length > 1 ? parts.slice(1).join('/') : rel, f);
  }
  return blobSource(label, map);
}

/** A FileSource over files held as bytes (an export, before it is written anywhere): path → contents. */
export function bytesSource(label: string, files: Map<string, Uint8Array>): FileSource {
  return blobSource(label, new Map([...files].map(([p, bytes]) => [p, new Blob([bytes as Uint8Array<ArrayBuffer>])])));
}
