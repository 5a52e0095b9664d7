// What the app reopens after a reload: the last base model, dataset and training settings (small, in
// localStorage; the models, data and runs themselves are in IndexedDB, behind the workers).
import type { ModelRef, TrainConfig } from '../bridge/protocol';

export interface Session {
  model?: ModelRef | null;
  datasetId?: string | null;
  train?: { config: TrainConfig; useSteps: boolean } | null;
}

const KEY = 'whetstone.session.v1';

export function readSession(): Session {
  try {
    const v = JSON.parse(localStorage.getItem(KEY) ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Session) : {};
  } catch {
    return {};
  }
}

export function saveSession(patch: Session): void {
  try {
    localStorage.setItem(KEY, JSON.stringify({ ...readSession(), ...patch }));
  } catch {
    // Storage full or disabled: the session is a convenience only.
  }
}
