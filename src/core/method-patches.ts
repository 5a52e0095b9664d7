// Wraps methods of objects a watcher observes (tfjs internals: the engine, a backend's buffer manager, the
// engine's buffer map) and puts back exactly what was there: an own property, or none (the prototype's).
type Method = (...args: unknown[]) => unknown;

export class MethodPatches {
  private readonly patches: { target: Record<string, unknown>; key: string; had: boolean; original: unknown }[] = [];

  /** target[key] becomes wrapper(the method it had); nothing happens when it has no such method. */
  wrap(target: object, key: string, wrapper: (original: Method) => Method): void {
    const t = target as Record<string, unknown>;
    const original = t[key];
    if (typeof original !== 'function') return;
    this.patches.push({ target: t, key, had: Object.prototype.hasOwnProperty.call(t, key), original });
    t[key] = wrapper(original as Method);
  }

  /** Undoes every wrap, the last first. */
  restore(): void {
    for (const p of this.patches.reverse()) {
      if (p.had) p.target[p.key] = p.original;
      else delete p.target[p.key];
    }
    this.patches.length = 0;
  }
}
