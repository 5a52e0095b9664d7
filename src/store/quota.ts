// Storage quota: check the browser's estimate before a large write, recognise the QuotaExceededError a
// write can still hit, and ask for persistent storage so the browser does not evict runs under pressure.

import { QuotaError } from './errors';

/** What navigator.storage.estimate() resolves to (the fields used here). */
export interface StorageEstimateLike {
  usage?: number;
  quota?: number;
}

/** A storage estimate source; tests inject a fake one. */
export type EstimateFn = () => Promise<StorageEstimateLike>;

interface StorageManagerLike {
  estimate?: () => Promise<StorageEstimateLike>;
  persist?: () => Promise<boolean>;
  persisted?: () => Promise<boolean>;
}

function storageManager(): StorageManagerLike | undefined {
  const nav = (globalThis as { navigator?: { storage?: StorageManagerLike } }).navigator;
  return nav?.storage;
}

/** navigator.storage.estimate where this context has it (page and worker), else null. */
export function defaultEstimate(): EstimateFn | null {
  const storage = storageManager();
  return typeof storage?.estimate === 'function' ? () => storage.estimate!() : null;
}

/** Bytes as megabytes (10^6) for messages; small amounts keep enough digits to not read as 0. */
export function formatMB(bytes: number): string {
  const mb = bytes / 1e6;
  return `${mb >= 100 ? mb.toFixed(0) : mb >= 0.1 ? mb.toFixed(1) : mb.toFixed(3)} MB`;
}

/** Usage and quota in bytes, and what is left; undefined where the browser gives no estimate. */
export async function storageEstimate(
  estimate: EstimateFn | null = defaultEstimate(),
): Promise<{ usage: number; quota: number; available: number } | undefined> {
  if (!estimate) return undefined;
  let e: StorageEstimateLike;
  try {
    e = await estimate();
  } catch {
    return undefined;
  }
  if (typeof e.quota !== 'number' || !Number.isFinite(e.quota)) return undefined;
  const usage = typeof e.usage === 'number' && Number.isFinite(e.usage) ? e.usage : 0;
  return { usage, quota: e.quota, available: Math.max(0, e.quota - usage) };
}

/**
 * Throws QuotaError when the estimate says `bytesNeeded` will not fit, before anything is written.
 * `estimate` undefined → navigator.storage.estimate; null or no estimate available → no check (a write
 * that still overflows fails with QuotaExceededError, which the store turns into QuotaError too).
 */
export async function ensureQuota(
  bytesNeeded: number,
  estimate: EstimateFn | null = defaultEstimate(),
  what = 'this write',
): Promise<void> {
  const e = await storageEstimate(estimate);
  if (!e || bytesNeeded <= e.available) return;
  throw new QuotaError(
    `not enough storage for ${what}: it needs ${formatMB(bytesNeeded)} but only ${formatMB(e.available)} ` +
      `is available (${formatMB(e.usage)} of ${formatMB(e.quota)} used). ` +
      'Delete old runs, checkpoints, models or datasets to free space, then try again.',
    bytesNeeded,
    e.available,
  );
}

/** Whether `err` is the browser refusing a write for lack of space (DOMException QuotaExceededError,
 *  also as the `error` of an aborted transaction). */
export function isQuotaExceeded(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: unknown; code?: unknown; error?: unknown };
  if (e.name === 'QuotaExceededError' || e.name === 'NS_ERROR_DOM_QUOTA_REACHED') return true;
  if (e.name === 'DOMException' && e.code === 22) return true;
  return e.error !== undefined && e.error !== err && isQuotaExceeded(e.error);
}

/** Asks the browser to keep this origin's storage under pressure (navigator.storage.persist).
 *  Resolves true when storage is (now) persistent, false when refused or unsupported. */
export async function requestPersistence(): Promise<boolean> {
  const storage = storageManager();
  try {
    if (typeof storage?.persisted === 'function' && (await storage.persisted())) return true;
    if (typeof storage?.persist === 'function') return await storage.persist();
  } catch {
    // Some contexts (workers in some browsers, insecure origins) throw instead of resolving false.
  }
  return false;
}
