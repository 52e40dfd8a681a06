// Text from objects and requests, made safe to show a person: control characters (C0,
// DEL, C1) and the Unicode controls that reorder or hide text are written as escapes, so
// a key or a user name cannot rewrite a terminal line or a message.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    // Stryker disable next-line EqualityOperator,StringLiteral: no escaped character lies between U+009F and U+200B, and every \u one has four hex digits
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const UNSAFE_AFTER_JSON = /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/** `text` in double quotes, escaped as JSON escapes it, and the controls JSON leaves alone too. */
export function quoted(text: string): string {
  return JSON.stringify(text).replace(UNSAFE_AFTER_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
