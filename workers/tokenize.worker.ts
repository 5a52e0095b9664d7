// The tokenize worker: dataset import, validation and tokenization off the main thread (no tfjs).
// A thin comlink shell over tokenize-api.ts; the page imports only `type TokenizeApi`.
import { expose } from 'comlink';
import { api } from './tokenize-api';

expose(api);

export type TokenizeApi = typeof api;
