// Saving export files: one file as it is, a folder as an uncompressed zip (see zip.ts).
import { zipStore } from './zip';

export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  // Give the browser time to start the download before the URL goes.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function saveFiles(name: string, files: Record<string, Uint8Array>): void {
  const entries = Object.entries(files);
  if (entries.length === 1 && !name.endsWith('.zip')) {
    saveBlob(new Blob([entries[0][1] as BlobPart], { type: 'application/octet-stream' }), name);
    return;
  }
  saveBlob(new Blob([zipStore(entries) as BlobPart], { type: 'application/zip' }), name);
}
