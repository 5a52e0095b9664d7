// The most memory tensors hold at once, each buffer counted once. tf.profile's peakBytes (like tf.memory's
// numBytes) adds a tensor's bytes for every tensor object, so a buffer that a reshape, a clone or a tensor
// the gradient tape saved shares counts once per object: an upper bound. The engine keeps one entry per
// buffer (its tensorInfo map, keyed by data id, added when a buffer is first tracked and deleted when the
// backend frees it); this meter watches that map. Buffers that existed before the meter started are not
// counted. In-kernel temporaries a backend frees before returning are not seen (as by tf.profile).
import * as tf from '@tensorflow/tfjs';
import { MethodPatches } from '../src/core/method-patches';

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
  const patches = new MethodPatches();
  patches.wrap(
    map,
    'set',
    (set) =>
      function (this: InfoMap, ...args: unknown[]) {
        const [key, info] = args as [object, { bytes: number }];
        if (!map.has(key)) {
          counted.set(key, info.bytes);
          bytes += info.bytes;
          if (bytes > peak) peak = bytes;
        }
        return set.apply(this, args);
      },
  );
  patches.wrap(
    map,
    'delete',
    (del) =>
      function (this: InfoMap, ...args: unknown[]) {
        const b = counted.get(args[0] as object);
        if (b !== undefined) {
          bytes -= b;
          counted.delete(args[0] as object);
        }
        return del.apply(this, args);
      },
  );
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
      patches.restore();
    },
  };
}
