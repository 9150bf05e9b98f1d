// UTF-8 for domains, whose compartments have no TextEncoder or TextDecoder: the same results as
// the host's (WHATWG Encoding: a malformed sequence reads as U+FFFD, a lone surrogate encodes as
// U+FFFD), plus where a byte string may be cut without splitting a character.

/** `bytes` as UTF-8, decoded as the WHATWG Encoding standard (and so a
 *  host's TextDecoder) does, each malformed sequence read as U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): string {
  let s = '';
  let cp = 0;
  let needed = 0;
  let lower = 0x80;
  let upper = 0xbf;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (needed === 0) {
      if (b < 0x80) s += String.fromCharCode(b);
      else if (b >= 0xc2 && b <= 0xdf) { needed = 1; cp = b & 0x1f; }
      else if (b >= 0xe0 && b <= 0xef) { needed = 2; cp = b & 0xf; lower = b === 0xe0 ? 0xa0 : 0x80; upper = b === 0xed ? 0x9f : 0xbf; }
      else if (b >= 0xf0 && b <= 0xf4) { needed = 3; cp = b & 0x7; lower = b === 0xf0 ? 0x90 : 0x80; upper = b === 0xf4 ? 0x8f : 0xbf; }
      else s += '\ufffd';
    } else if (b < lower || b > upper) {
      s += '\ufffd'; // the sequence so far is malformed; `b` starts afresh
      needed = 0; lower = 0x80; upper = 0xbf;
      i--;
    } else {
      cp = (cp << 6) | (b & 0x3f);
      lower = 0x80; upper = 0xbf;
      if (--needed === 0) s += String.fromCodePoint(cp);
    }
  }
  return needed === 0 ? s : `${s}\ufffd`;
}

/** UTF-8 of `s` (a lone surrogate becomes U+FFFD). */
export function encodeUtf8(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return Uint8Array.from(out);
}

/** The largest n <= limit such that bytes[0, n) ends on a character boundary of `bytes`: a cut
 *  there splits no well-formed sequence (0 if none fits). */
export function utf8Boundary(bytes: Uint8Array, limit: number): number {
  let n = Math.min(limit, bytes.length);
  if (n === bytes.length) return n;
  for (let back = 0; n > 0 && back < 3 && (bytes[n]! & 0xc0) === 0x80; back++) n--;
  return n;
}

/** Bytes at the end of `bytes` that begin a UTF-8 character not complete yet (0 if none): what a
 *  writer holds back until the rest comes (rv6's console domain and its core's console files). */
export function incompleteTail(bytes: ArrayLike<number>): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const c = bytes[bytes.length - back]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}
