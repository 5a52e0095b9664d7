// The most memory tensors hold at once, each buffer counted once. tf.profile's peakBytes (like tf.memory's
// numBytes) adds a tensor's bytes for every tensor object, so a buffer that a reshape, a clone or a tensor
// the gradient tape saved shares counts once per object: an upper bound. The engine keeps one entry per
// buffer (its tensorInfo map, keyed by data id, added when a buffer is first tracked and deleted when the
// backend frees it); this meter watches that map. Buffers that existed before the meter started are not
// counted. In-kernel temporaries a backend frees before returning are not seen (as by tf.profile).
import * as tf from '@tensorflow/tfjs';

export interface BufferMeter {
  /** Bytes of the buffers allocated since the start (or the last resetPeak's base) still alive. */
  readonly bytes: number;
  /** The most `bytes` has been since the start or the last resetPeak. */
  readonly peak: number;
  /** Starts a new peak from the bytes alive now. */
  resetPeak(): void;
  /** Stops watching (the map's methods are restored). */
  stop(): void;
}

type InfoMap = WeakMap<object, { bytes: number }>;

export function meterBuffers(): BufferMeter {
  const map = (tf.engine() as unknown as { state: { tensorInfo: InfoMap } }).state.tensorInfo;
  const counted = new WeakMap<object, number>();
  let bytes = 0;
  let peak = 0;
  const own = map as unknown as Record<string, unknown>;
  // Another meter may be watching already: wrap what is there and put exactly that back.
  const before = { set: Object.getOwnPropertyDescriptor(own, 'set'), delete: Object.getOwnPropertyDescriptor(own, 'delete') };
  const set = map.set;
  const del = map.delete;
  own.set = function (this: InfoMap, key: object, info: { bytes: number }) {
    if (!map.has(key)) {
      counted.set(key, info.bytes);
      bytes += info.bytes;
      if (bytes > peak) peak = bytes;
    }
    return set.call(this, key, info);
  };
  own.delete = function (this: InfoMap, key: object) {
    const b = counted.get(key);
    if (b !== undefined) {
      bytes -= b;
      counted.delete(key);
    }
    return del.call(this, key);
  };
  return {
    get bytes() {
      return bytes;
    },
    get peak() {
      return peak;
    },
    resetPeak() {
      peak = bytes;
    },
    stop() {
      for (const key of ['set', 'delete'] as const) {
        const d = before[key];
        if (d) Object.defineProperty(own, key, d);
        else delete own[key];
      }
    },
  };
}
