/**
 * The Porter stemmer (M.F. Porter, 1980), following Porter's own C reference implementation
 * including its two published departures (step 2: "bli" → "ble", "logi" → "log"); this is the
 * variant Lucene's PorterStemFilter (hence Elasticsearch's `english` analyzer) uses.
 * Input: a lowercase word. Words of one or two letters are returned unchanged.
 */

class Stemmer {
  private b: string;
  private k: number;
  private j = 0;

  constructor(word: string) {
    this.b = word;
    this.k = word.length - 1;
  }

  /** true when b[i] is a consonant ('y' is one at the start or after a vowel). */
  private cons(i: number): boolean {
    switch (this.b[i]) {
      case 'a': case 'e': case 'i': case 'o': case 'u': return false;
      case 'y': return i === 0 ? true : !this.cons(i - 1);
      default: return true;
    }
  }

  /** m(): the number of VC sequences in b[0..j]. */
  private m(): number {
    let n = 0;
    let i = 0;
    const j = this.j;
    for (;;) {
      if (i > j) return n;
      if (!this.cons(i)) break;
      i++;
    }
    i++;
    for (;;) {
      for (;;) {
        if (i > j) return n;
        if (this.cons(i)) break;
        i++;
      }
      i++;
      n++;
      for (;;) {
        if (i > j) return n;
        if (!this.cons(i)) break;
        i++;
      }
      i++;
    }
  }

  private vowelInStem(): boolean {
    for (let i = 0; i <= this.j; i++) if (!this.cons(i)) return true;
    return false;
  }

  private doubleC(j: number): boolean {
    return j >= 1 && this.b[j] === this.b[j - 1] && this.cons(j);
  }

  /** consonant-vowel-consonant ending at i, the last consonant not w, x or y. */
  private cvc(i: number): boolean {
    if (i < 2 || !this.cons(i) || this.cons(i - 1) || !this.cons(i - 2)) return false;
    const ch = this.b[i];
    return ch !== 'w' && ch !== 'x' && ch !== 'y';
  }

  private ends(s: string): boolean {
    const l = s.length;
    if (l > this.k + 1) return false;
    if (this.b.slice(this.k - l + 1, this.k + 1) !== s) return false;
    this.j = this.k - l;
    return true;
  }

  private setTo(s: string): void {
    this.b = this.b.slice(0, this.j + 1) + s + this.b.slice(this.k + 1);
    this.k = this.j + s.length;
  }

  private r(s: string): void {
    if (this.m() > 0) this.setTo(s);
  }

  /** Replaces the first matching suffix (if m() > 0); stops at the first suffix that matches. */
  private replaceFirst(rules: ReadonlyArray<readonly [string, string]>): void {
    for (const [from, to] of rules) {
      if (this.ends(from)) {
        this.r(to);
        return;
      }
    }
  }

  step1ab(): void {
    if (this.b[this.k] === 's') {
      if (this.ends('sses')) this.k -= 2;
      else if (this.ends('ies')) this.setTo('i');
      else if (this.b[this.k - 1] !== 's') this.k--;
    }
    if (this.ends('eed')) {
      if (this.m() > 0) this.k--;
    } else if ((this.ends('ed') || this.ends('ing')) && this.vowelInStem()) {
      this.k = this.j;
      if (this.ends('at')) this.setTo('ate');
      else if (this.ends('bl')) this.setTo('ble');
      else if (this.ends('iz')) this.setTo('ize');
      else if (this.doubleC(this.k)) {
        this.k--;
        const ch = this.b[this.k];
        if (ch === 'l' || ch === 's' || ch === 'z') this.k++;
      } else if (this.m() === 1 && this.cvc(this.k)) this.setTo('e');
    }
  }

  step1c(): void {
    if (this.ends('y') && this.vowelInStem()) this.b = this.b.slice(0, this.k) + 'i' + this.b.slice(this.k + 1);
  }

  step2(): void {
    const rules = STEP2[this.b[this.k - 1]];
    if (rules) this.replaceFirst(rules);
  }

  step3(): void {
    const rules = STEP3[this.b[this.k]];
    if (rules) this.replaceFirst(rules);
  }

  step4(): void {
    const suffixes = STEP4[this.b[this.k - 1]];
    if (!suffixes) return;
    let matched = false;
    for (const s of suffixes) {
      if (!this.ends(s)) continue;
      // "ion" only after s or t
      if (s === 'ion' && !(this.j >= 0 && (this.b[this.j] === 's' || this.b[this.j] === 't'))) continue;
      matched = true;
      break;
    }
    if (matched && this.m() > 1) this.k = this.j;
  }

  step5(): void {
    this.j = this.k;
    if (this.b[this.k] === 'e') {
      const a = this.m();
      if (a > 1 || (a === 1 && !this.cvc(this.k - 1))) this.k--;
    }
    if (this.b[this.k] === 'l' && this.doubleC(this.k) && this.m() > 1) this.k--;
  }

  result(): string {
    return this.b.slice(0, this.k + 1);
  }

  get end(): number {
    return this.k;
  }
}

const STEP2: Record<string, ReadonlyArray<readonly [string, string]>> = {
  a: [['ational', 'ate'], ['tional', 'tion']],
  c: [['enci', 'ence'], ['anci', 'ance']],
  e: [['izer', 'ize']],
  l: [['bli', 'ble'], ['alli', 'al'], ['entli', 'ent'], ['eli', 'e'], ['ousli', 'ous']],
  o: [['ization', 'ize'], ['ation', 'ate'], ['ator', 'ate']],
  s: [['alism', 'al'], ['iveness', 'ive'], ['fulness', 'ful'], ['ousness', 'ous']],
  t: [['aliti', 'al'], ['iviti', 'ive'], ['biliti', 'ble']],
  g: [['logi', 'log']],
};

const STEP3: Record<string, ReadonlyArray<readonly [string, string]>> = {
  e: [['icate', 'ic'], ['ative', ''], ['alize', 'al']],
  i: [['iciti', 'ic']],
  l: [['ical', 'ic'], ['ful', '']],
  s: [['ness', '']],
};

/** Step 4 suffixes, tried in order; in Porter's C code the 'o' case is "ion" (after s/t), then "ou". */
const STEP4: Record<string, readonly string[]> = {
  a: ['al'],
  c: ['ance', 'ence'],
  e: ['er'],
  i: ['ic'],
  l: ['able', 'ible'],
  n: ['ant', 'ement', 'ment', 'ent'],
  o: ['ion', 'ou'],
  s: ['ism'],
  t: ['ate', 'iti'],
  u: ['ous'],
  v: ['ive'],
  z: ['ize'],
};

/** Porter stem of a lowercase word. */
export function porterStem(word: string): string {
  if (word.length <= 2) return word;
  const s = new Stemmer(word);
  s.step1ab();
  if (s.end > 0) {
    s.step1c();
    s.step2();
    s.step3();
    s.step4();
    s.step5();
  }
  return s.result();
}
