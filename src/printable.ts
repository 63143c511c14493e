/**
 * Text from untrusted input (certificate names, OCSP times, HTTP status lines, file names) made
 * safe to print: a name can carry ESC sequences that retitle or clear the operator's terminal,
 * or bidi overrides that make a log line read differently from what it holds.
 */

// C0 controls and DEL, C1 controls (U+009B is a one-byte CSI for terminals that honour 8-bit
// controls), the bidi embedding, override and isolate controls (the "Trojan Source" set,
// CVE-2021-42574), and the Unicode line and paragraph separators.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character written as an escape: `\x1b` for one under U+0100,
 * `\u{202e}` above. Everything printable, non-ASCII letters included, is left as it is; so is
 * the backslash, so the result is for reading, not for decoding back.
 *
 * @example
 * ```ts
 * printable('CN=evil\x1b]0;pwned\x07'); // 'CN=evil\\x1b]0;pwned\\x07'
 * ```
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** A certificate name as Node's `X509Certificate` gives it (one attribute a line, undefined when empty) on one printable line. */
export function nameLine(name: string | undefined): string {
  return printable((name ?? '').replace(/\n/g, ', '));
}

/** `JSON.stringify(value)` on one printable line: the controls JSON leaves raw (C1, bidi, U+2028/9) as `\u` escapes, so it still parses to the same value. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
