// Files from a drop: folders are walked (webkitGetAsEntry) so that dropping a model folder gives all its
// files with their relative paths, as the folder picker does.

async function entryFiles(entry: FileSystemEntry, prefix: string, out: File[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    Object.defineProperty(file, 'webkitRelativePath', { value: prefix + file.name });
    out.push(file);
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) await entryFiles(child, `${prefix}${entry.name}/`, out);
  }
}

/** The dropped files, with folders expanded; the label is the folder's name or the first file's. */
export async function droppedFiles(dt: DataTransfer): Promise<{ files: File[]; label: string }> {
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  const files: File[] = [];
  if (entries.length > 0) {
    for (const e of entries) await entryFiles(e, '', files);
  } else {
    files.push(...dt.files);
  }
  const folder = entries.find((e) => e.isDirectory);
  return { files, label: folder?.name ?? (files.length === 1 ? files[0].name : 'local model') };
}

/** A label for picked files: the folder of a directory pick, else the one file's name, else "local model". */
export function pickedLabel(files: File[]): string {
  const rel = (files[0] as File & { webkitRelativePath?: string } | undefined)?.webkitRelativePath;
  if (rel && rel.includes('/')) return rel.split('/')[0];
  return files.length === 1 ? files[0].name : 'local model';
}
