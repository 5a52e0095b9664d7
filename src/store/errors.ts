// Typed errors of the IndexedDB store: a full disk, stored bytes that no longer match their hash, and a
// database this tab can no longer use (closed by another tab's upgrade, blocked, or missing).

import { WhetstoneError } from '../core/errors';

/** Not enough storage: raised before a write when the estimate says it will not fit, or when the browser
 *  refuses a write (QuotaExceededError). Nothing of the failed write is kept. */
export class QuotaError extends WhetstoneError {
  /** Bytes the write needed, when known. */
  readonly neededBytes: number | undefined;
  /** Bytes the storage estimate said were free, when known. */
  readonly availableBytes: number | undefined;
  constructor(message: string, neededBytes?: number, availableBytes?: number) {
    super('quota', message);
    this.name = 'QuotaError';
    this.neededBytes = neededBytes;
    this.availableBytes = availableBytes;
  }
}

/** Stored bytes that do not read back as written: a hash mismatch, a missing chunk, a wrong size. */
export class IntegrityError extends WhetstoneError {
  constructor(message: string) {
    super('integrity', message);
    this.name = 'IntegrityError';
  }
}

/** The database cannot serve the request: closed, blocked by another tab, unknown record, bad argument. */
export class StoreError extends WhetstoneError {
  constructor(message: string) {
    super('store', message);
    this.name = 'StoreError';
  }
}
