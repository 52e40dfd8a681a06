// How deeply a JSON text nests, counted on the bytes before it is parsed. The API server
// refuses JSON nested deeper than 10,000 levels (apimachinery's util/json maxDepth), so a
// deeper AdmissionReview cannot come from it; refusing one costs a single pass over the
// body, and keeps hostile nesting out of everything that walks the parsed object later.
export const MAX_JSON_DEPTH = 10_000;

const OPEN_OBJECT = 0x7b;
const OPEN_ARRAY = 0x5b;
const CLOSE_OBJECT = 0x7d;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** True when `json` nests objects and arrays deeper than `max` levels (brackets in strings do not count). */
export function nestsDeeperThan(json: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  // Stryker disable next-line EqualityOperator: reading one past the end yields undefined, which matches nothing
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}
