// Content hashes that name a run's inputs (data file, tokenizer), without tfjs: the tokenize worker uses
// them too.
import { Sha256, sha256Hex } from './sha256';
import type { WhetTokenizer } from './tokenizer';

/** sha256 of a Blob, streamed (never the whole file in one buffer). */
export async function hashBlob(blob: Blob): Promise<string> {
  const h = new Sha256();
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    h.update(value);
  }
  return h.digestHex();
}

export async function tokenizerHash(tok: WhetTokenizer): Promise<string> {
  return sha256Hex(new TextEncoder().encode(JSON.stringify([tok.tokenizerJson, tok.tokenizerConfig, tok.chatTemplate])));
}
