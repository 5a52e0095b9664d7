// Watches every tensor and GPU buffer allocated while it runs and remembers the largest, so that a test or a
// benchmark can prove nothing exceeded the storage-binding limit (a simulated one included): the check that
// vocabulary-sized tensors really are split into chunks.
import * as tf from '@tensorflow/tfjs';
import { DeviceError } from './errors';
import { MethodPatches } from './method-patches';

export interface BindingWatch {
  /** The largest allocation seen so far, in bytes, and what it was. */
  readonly largest: number;
  readonly largestWhat: string;
  /** Stops watching (again: nothing). */
  stop(): void;
  /** Throws a DeviceError naming the largest allocation when it exceeded the limit. */
  check(): void;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };

/**
 * Starts watching: tensors the engine tracks (kernel outputs, uploads, variables), tensors a backend makes
 * inside composite kernels, and on WebGPU every buffer the buffer manager hands out. `limit` null: only
 * record the largest.
 */
export function watchBindings(limit: number | null): BindingWatch {
  let largest = 0;
  let largestWhat = '';
  const seen = (bytes: number, what: () => string) => {
    if (bytes > largest) {
      largest = bytes;
      largestWhat = what();
    }
  };
  const patches = new MethodPatches();
  const patch = patches.wrap.bind(patches);
  const shapeBytes = (shape: readonly number[], dtype: string) => shape.reduce((a, b) => a * b, 1) * (BYTES[dtype] ?? 4);

  patch(
    tf.engine() as unknown as Record<string, unknown>,
    'trackTensor',
    (original) =>
      function (this: unknown, ...args: unknown[]) {
        const t = args[0] as { shape: number[]; dtype: string };
        seen(shapeBytes(t.shape, t.dtype), () => `tensor [${t.shape.join(', ')}] ${t.dtype}`);
        return original.apply(this, args);
      },
  );
  const backend = tf.backend() as unknown as Record<string, unknown> & { bufferManager?: Record<string, unknown> };
  patch(
    backend,
    'makeTensorInfo',
    (original) =>
      function (this: unknown, ...args: unknown[]) {
        const [shape, dtype] = args as [number[], string];
        seen(shapeBytes(shape, dtype), () => `backend tensor [${shape.join(', ')}] ${dtype}`);
        return original.apply(this, args);
      },
  );
  if (backend.bufferManager) {
    patch(
      backend.bufferManager,
      'acquireBuffer',
      (original) =>
        function (this: unknown, ...args: unknown[]) {
          const size = args[0] as number;
          seen(size, () => `GPU buffer of ${size} bytes (usage ${args[1] as number})`);
          return original.apply(this, args);
        },
    );
  }

  return {
    get largest() {
      return largest;
    },
    get largestWhat() {
      return largestWhat;
    },
    stop() {
      patches.restore();
    },
    check() {
      if (limit !== null && largest > limit) {
        throw new DeviceError(`${largestWhat} needs ${largest} bytes, more than the storage-binding limit of ${limit} bytes`);
      }
    },
  };
}
