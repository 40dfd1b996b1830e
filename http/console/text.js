// text.js — what a text costs as SMS, by the gateway's own rules
// (actors/sms/text.c): GSM-7 (3GPP TS 23.038 basic table one septet, the
// extension table — form feed ^ { } \ [ ~ ] | € — two); 160 septets in one
// segment, else segments of at most 153, an escape pair never split. Any
// other character makes the text UCS-2: 70 UTF-16 units in one segment,
// else at most 67 per segment, a surrogate pair never split.

const EXT = new Set(['^', '{', '}', '\\', '[', '~', ']', '|', '\f', '\u20ac']);
const BASIC_NON_ASCII = new Set(Array.from(
  '¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùüΓΔΘΛΞΠΣΦΨΩ'));

// Septets a character (one code point) costs: 1, 2, or 0 (not GSM-7).
export function gsmCost(ch) {
  if (ch === '\n' || ch === '\r') return 1;
  if (EXT.has(ch)) return 2;
  const c = ch.codePointAt(0);
  if (c >= 0x20 && c <= 0x7e) return ch === '`' ? 0 : 1;
  return BASIC_NON_ASCII.has(ch) ? 1 : 0;
}

// {encoding: "GSM7" | "UCS2", codePoints, units, segments, perSegment, left}
export function analyze(text) {
  const chars = Array.from(text);  // code points
  const gsm = chars.every((ch) => gsmCost(ch) > 0);
  const cost = gsm ? gsmCost : (ch) => (ch.codePointAt(0) >= 0x10000 ? 2 : 1);
  let units = 0;
  for (const ch of chars) units += cost(ch);
  const single = gsm ? 160 : 70, part = gsm ? 153 : 67;
  let segments = 0, fill = 0;
  if (units > 0 && units <= single) {
    segments = 1;
    fill = units;
  } else if (units > single) {
    segments = 1;
    for (const ch of chars) {
      const c = cost(ch);
      if (fill + c > part) { segments++; fill = 0; }
      fill += c;
    }
  }
  const perSegment = segments > 1 ? part : single;
  return {
    encoding: gsm ? 'GSM7' : 'UCS2', codePoints: chars.length, units, segments, perSegment,
    left: segments === 0 ? single : perSegment - fill,
  };
}
