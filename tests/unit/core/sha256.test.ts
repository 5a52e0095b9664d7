import { describe, expect, it } from 'vitest';
import { Sha256, sha256Hex } from '../../../src/core/sha256';
import { bytesOf } from '../store/helpers';

const utf8 = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s);

describe('sha256', () => {
  // FIPS 180-2 appendix B test vectors.
  const vectors: [string, string][] = [
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
  ];

  it.each(vectors)('hashes %j to the FIPS vector (incremental and subtle)', async (text, hex) => {
    expect(new Sha256().update(utf8(text)).digestHex()).toBe(hex);
    expect(await sha256Hex(utf8(text))).toBe(hex);
  });

  it('a million "a" fed in odd pieces gives the FIPS vector', () => {
    const h = new Sha256();
    const a = new Uint8Array(999).fill(0x61);
    let left = 1_000_000;
    while (left > 0) {
      const n = Math.min(left, 999);
      h.update(a.subarray(0, n));
      left -= n;
    }
    expect(h.digestHex()).toBe('cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
  });

  it('agrees with crypto.subtle at every length around the block and padding edges', async () => {
    for (const n of [1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4097]) {
      const data = bytesOf(n, n);
      const split = new Sha256()
        .update(data.subarray(0, n >> 1))
        .update(data.subarray(n >> 1))
        .digestHex();
      expect(split, `length ${n}`).toBe(await sha256Hex(data));
    }
  });
});
