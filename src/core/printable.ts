// Text from objects and requests, made safe to show a person: control characters (C0,
// DEL, C1) and the Unicode controls that reorder or hide text are written as escapes, so
// a key or a user name cannot rewrite a terminal line or a message.
// eslint-disable-next-line no-control-regex -- matching control characters is this file's job
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    // Stryker disable next-line EqualityOperator,StringLiteral: no escaped character lies between U+009F and U+200B, and every \u one has four hex digits
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const UNSAFE_AFTER_JSON = /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const jsonEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** `text` in double quotes, escaped as JSON escapes it, and the controls JSON leaves alone too. */
export function quoted(text: string): string {
  return JSON.stringify(text).replace(UNSAFE_AFTER_JSON, jsonEscape);
}

/**
 * `value` as JSON text (JSON.stringify's), with the controls JSON leaves raw (DEL, C1,
 * bidi and invisible ones) escaped as well: it parses back to the same value, and shows
 * nothing a terminal would act on. (Those characters can only stand inside strings.)
 */
export function safeJson(value: unknown, space?: number): string {
  return JSON.stringify(value, null, space).replace(UNSAFE_AFTER_JSON, jsonEscape);
}
