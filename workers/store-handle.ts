// The IndexedDB store as the workers use it: opened once per worker on first use, orphans of interrupted
// writes collected at that first open, reopened if another tab's upgrade closed it (and the page told).
import { openStore, collectOrphans, type Store } from '../src/store';

let opening: Promise<Store> | null = null;
let onUpgradeElsewhere: (() => void) | null = null;

/** `fn` is called when another tab opens a newer schema: this connection is already closed (so that tab's
 *  upgrade is never blocked), and this tab must reload to go on. */
export function onStoreUpgraded(fn: () => void): void {
  onUpgradeElsewhere = fn;
}

export function store(): Promise<Store> {
  if (opening) {
    return opening.then((s) => {
      if (!s.closed) return s;
      opening = null;
      return store();
    });
  }
  opening = openStore({ onVersionChange: () => onUpgradeElsewhere?.() }).then(async (s) => {
    await collectOrphans(s).catch(() => 0);
    return s;
  });
  opening.catch(() => (opening = null));
  return opening;
}
