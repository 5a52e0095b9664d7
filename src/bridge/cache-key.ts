// The key of a tokenized-dataset cache entry, computed the same way by the tokenize worker (which fills
// the cache) and the training worker (which reads it).
import type { TokenizedKey } from '../store/db';
import type { TokenizeRequest } from './protocol';

export function tokenizedKey(req: TokenizeRequest, tokenizerHash: string): TokenizedKey {
  return {
    datasetId: req.datasetId,
    tokenizerHash,
    mode: req.mode,
    maxLength: req.maxLength,
    optionsHash: `trainOnPrompt=${req.trainOnPrompt ? 1 : 0};v1`,
  };
}
