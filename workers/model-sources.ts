// Where base models come from in the browser: the embedded default model (served with the app and
// precached by the service worker), a model stored in IndexedDB, dropped/picked files, or a Hugging Face
// Hub download (streamed with progress, verified against the Hub's sizes and hashes, then stored).
import { blobSource, type FileSource } from '../src/core/files';
import { parseModelConfig } from '../src/core/hf-config';
import { WhetstoneError } from '../src/core/errors';
import type { ModelFileInput } from '../src/store';
import type { DefaultModelFile, Progress } from '../src/bridge/protocol';

/** The files a Hugging Face model folder needs (others, like README.md or reference data, are left out). */
export function isModelFile(name: string): boolean {
  return (
    name === 'config.json' ||
    name === 'generation_config.json' ||
    name === 'tokenizer.json' ||
    name === 'tokenizer_config.json' ||
    name === 'special_tokens_map.json' ||
    name === 'chat_template.jinja' ||
    name === 'chat_template.json' ||
    name === 'model.safetensors.index.json' ||
    /^model(-\d{5}-of-\d{5})?\.safetensors$/.test(name)
  );
}

export function defaultModelSource(baseUrl: string, files: DefaultModelFile[]): FileSource {
  const names = files.map((f) => f.name);
  const root = new URL('models/default/', baseUrl);
  return {
    label: 'default model',
    list: () => [...names],
    has: (p) => names.includes(p),
    async blob(p) {
      if (!names.includes(p)) throw new WhetstoneError('config', `default model: missing file ${p}`);
      const res = await fetch(new URL(p, root));
      if (!res.ok) throw new WhetstoneError('config', `default model: ${p}: HTTP ${res.status}`);
      return res.blob();
    },
  };
}

/** Picked or dropped files → a FileSource holding only the model's files (folder prefixes stripped). */
export function droppedSource(label: string, files: File[]): FileSource {
  const depth = (f: File) => ((f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name).split('/').length;
  const keep = new Map<string, Blob>();
  // The shallowest file of each name: a folder's own files win over copies in its subfolders.
  for (const f of [...files].sort((a, b) => depth(a) - depth(b))) {
    if (isModelFile(f.name) && !keep.has(f.name)) keep.set(f.name, f);
  }
  if (!keep.has('config.json')) {
    throw new WhetstoneError('config', `${label}: no config.json among the ${files.length} file${files.length === 1 ? '' : 's'} given (pick the model's folder, or config.json with its *.safetensors and tokenizer files)`);
  }
  if (![...keep.keys()].some((n) => n.endsWith('.safetensors'))) {
    throw new WhetstoneError('config', `${label}: no *.safetensors weights among the files given (only safetensors is supported, not .bin/.pt)`);
  }
  if (!keep.has('tokenizer.json')) throw new WhetstoneError('tokenizer', `${label}: no tokenizer.json among the files given (add the tokenizer files to the folder)`);
  return blobSource(label, keep);
}

// ---- Hugging Face Hub ----

const HUB = 'https://huggingface.co';

/** "owner/name", "owner/name@rev" or a huggingface.co URL → repo and revision. */
export function parseHubId(input: string): { repo: string; revision: string } {
  let s = input.trim();
  let revision = 'main';
  const url = /^https?:\/\/(?:www\.)?huggingface\.co\/([^?#]+)/.exec(s);
  if (url) {
    const parts = url[1].split('/').filter(Boolean);
    s = parts.slice(0, 2).join('/');
    if ((parts[2] === 'tree' || parts[2] === 'blob' || parts[2] === 'resolve') && parts[3]) revision = decodeURIComponent(parts[3]);
  } else if (s.includes('@')) {
    [s, revision] = s.split('@');
  }
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(s)) {
    throw new WhetstoneError('hub', `"${input}" is not a Hugging Face model id (expected owner/name, e.g. HuggingFaceTB/SmolLM2-135M)`);
  }
  return { repo: s, revision };
}

interface HubSibling {
  rfilename: string;
  size?: number;
  lfs?: { sha256?: string; size?: number };
}

async function hubFetch(url: string, what: string, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { signal, credentials: 'omit' });
  } catch (e) {
    throw new WhetstoneError('hub', `${what}: the download failed (${(e as Error).message}); are you online?`);
  }
  if (res.status === 401 || res.status === 403) throw new WhetstoneError('hub', `${what}: access denied (HTTP ${res.status}); gated or private models cannot be downloaded here`);
  if (res.status === 404) throw new WhetstoneError('hub', `${what}: not found on the Hub (HTTP 404)`);
  if (!res.ok) throw new WhetstoneError('hub', `${what}: HTTP ${res.status}`);
  return res;
}

/**
 * Downloads a Hub model's files into memory with byte progress. The config is fetched and checked first,
 * so an unsupported model is refused before any weight is downloaded. Returns the files with the sizes
 * and hashes the Hub states, for the store to verify.
 */
export async function downloadHubModel(
  input: string,
  onProgress: (p: Progress) => void,
  signal?: AbortSignal,
): Promise<{ name: string; files: ModelFileInput[] }> {
  const { repo, revision } = parseHubId(input);
  const api = await hubFetch(`${HUB}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`, repo, signal);
  const info = (await api.json()) as { siblings?: HubSibling[] };
  const siblings = (info.siblings ?? []).filter((s) => isModelFile(s.rfilename));
  const names = siblings.map((s) => s.rfilename);
  if (!names.includes('config.json')) throw new WhetstoneError('hub', `${repo}: no config.json in the repository`);
  if (!names.some((n) => n.endsWith('.safetensors'))) throw new WhetstoneError('hub', `${repo}: no *.safetensors weights (only safetensors is supported)`);
  if (!names.includes('tokenizer.json')) throw new WhetstoneError('hub', `${repo}: no tokenizer.json`);
  // A single file wins over shards when both are there.
  const wanted = siblings.filter((s) => !(names.includes('model.safetensors') && (s.rfilename === 'model.safetensors.index.json' || /^model-\d{5}-of-\d{5}\.safetensors$/.test(s.rfilename))));
  const resolve = (f: string) => `${HUB}/${repo}/resolve/${encodeURIComponent(revision)}/${f}`;

  const configRes = await hubFetch(resolve('config.json'), `${repo}/config.json`, signal);
  const configText = await configRes.text();
  let configJson: unknown;
  try {
    configJson = JSON.parse(configText);
  } catch (e) {
    throw new WhetstoneError('config', `${repo}/config.json: invalid JSON: ${(e as Error).message}`);
  }
  parseModelConfig(configJson, `${repo}/config.json`);

  const total = wanted.reduce((n, s) => n + (s.lfs?.size ?? s.size ?? 0), 0);
  let done = configText.length;
  const files: ModelFileInput[] = [{ name: 'config.json', data: new Blob([configText], { type: 'application/json' }) }];
  for (const s of wanted) {
    if (s.rfilename === 'config.json') continue;
    const res = await hubFetch(resolve(s.rfilename), `${repo}/${s.rfilename}`, signal);
    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      parts.push(value);
      done += value.byteLength;
      onProgress({ phase: `downloading ${s.rfilename}`, done, total });
    }
    const size = s.lfs?.size ?? s.size;
    files.push({
      name: s.rfilename,
      data: new Blob(parts as BlobPart[]),
      ...(size !== undefined ? { size } : {}),
      ...(s.lfs?.sha256 ? { sha256: s.lfs.sha256 } : {}),
    });
  }
  return { name: repo + (revision !== 'main' ? `@${revision}` : ''), files };
}
