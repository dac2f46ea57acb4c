/**
 * Free text at the edge (a hostname, a report's detail, a customer's name): any
 * printable characters, but no control characters. They end up in DynamoDB, logs,
 * `signet fleet` and `signet audit` output, where a NUL, a CR/LF or an ANSI escape
 * would truncate, forge lines or repaint an operator's terminal. One schema for every
 * such field, so they all refuse the same thing with the same message.
 */
import * as z from 'zod/mini';

/** C0 controls (U+0000-U+001F: NUL, TAB, LF, CR, ESC, ...), DEL (U+007F) and C1 controls (U+0080-U+009F). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARACTER = /[\u0000-\u001F\u007F-\u009F]/;
const CONTROL_CHARACTERS = new RegExp(CONTROL_CHARACTER.source, 'g');

export function hasControlCharacter(text: string): boolean {
  return CONTROL_CHARACTER.test(text);
}

/** Each control character replaced by a space: for clients that send text they did not write (an error message). */
export function withoutControlCharacters(text: string): string {
  return text.replace(CONTROL_CHARACTERS, ' ');
}

/** The problem reported for free text with a control character (see describeIssue in body.ts). */
export const CONTROL_CHARACTER_PROBLEM = 'must not contain control characters';

/** A string of `min`-`max` characters (UTF-16 code units, as zod counts) without control characters. */
export function freeText(max: number, min = 0) {
  return z.string().check(
    z.minLength(min),
    z.maxLength(max),
    z.refine((value) => !hasControlCharacter(value), { params: { problem: CONTROL_CHARACTER_PROBLEM } }),
  );
}
