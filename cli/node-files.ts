// FileSource over a folder on disk (Node): each file is opened as a lazy Blob (fs.openAsBlob), so a large
// safetensors file is read slice by slice, never whole.
import fs from 'node:fs';
import path from 'node:path';
import type { FileSource } from '../src/core/files';

export function dirSource(dir: string): FileSource {
  if (!fs.existsSync(dir)) throw new Error(`${dir}: no such directory`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir}: not a directory`);
  const files: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) files.push(r);
    }
  };
  walk('');
  files.sort();
  const set = new Set(files);
  return {
    label: dir,
    list: () => files,
    has: (p) => set.has(p),
    async blob(p) {
      if (!set.has(p)) throw new Error(`${dir}: missing file ${p}`);
      return fs.openAsBlob(path.join(dir, p));
    },
  };
}

/** One file on disk as a lazy Blob. */
export async function fileBlob(file: string): Promise<Blob> {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such file`);
  if (!fs.statSync(file).isFile()) throw new Error(`${file}: not a file`);
  return fs.openAsBlob(file);
}
