// The IndexedDB store as the workers use it: opened once per worker on first use, orphans of interrupted
// writes collected at that first open, reopened if another tab's upgrade closed it.
import { openStore, collectOrphans, type Store } from '../src/store';

let opening: Promise<Store> | null = null;

export function store(): Promise<Store> {
  if (opening) {
    return opening.then((s) => {
      if (!s.closed) return s;
      opening = null;
      return store();
    });
  }
  opening = openStore().then(async (s) => {
    await collectOrphans(s).catch(() => 0);
    return s;
  });
  opening.catch(() => (opening = null));
  return opening;
}
