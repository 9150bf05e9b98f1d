// The regular expressions of xv6's grep (user/grep.c, after Kernighan and Pike, "The Practice of
// Programming", ch. 9): c matches itself, '.' any character, '*' any number of the one before,
// '^' at the start anchors to the start of the text, '$' at the end to its end. Pure.

/** whether `re` matches somewhere in `text` */
export function match(re: string, text: string): boolean {
  if (re.startsWith('^')) return matchHere(re, 1, text, 0);
  for (let t = 0; t <= text.length; t++) if (matchHere(re, 0, text, t)) return true;
  return false;
}

/** whether re[r…] matches at the start of text[t…] */
function matchHere(re: string, r: number, text: string, t: number): boolean {
  for (;;) {
    if (r === re.length) return true;
    if (re[r + 1] === '*') return matchStar(re[r]!, re, r + 2, text, t);
    if (re[r] === '$' && r + 1 === re.length) return t === text.length;
    if (t < text.length && (re[r] === '.' || re[r] === text[t])) {
      r++;
      t++;
      continue;
    }
    return false;
  }
}

/** whether c* then re[r…] match at the start of text[t…] (shortest first) */
function matchStar(c: string, re: string, r: number, text: string, t: number): boolean {
  for (;;) {
    if (matchHere(re, r, text, t)) return true;
    if (t >= text.length || (text[t] !== c && c !== '.')) return false;
    t++;
  }
}
