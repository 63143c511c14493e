/**
 * A strict DER reader for untrusted input (OCSP responses, certificates).
 *
 * asn1js accepts encodings that DER forbids and that OpenSSL refuses (children running past
 * their parent, empty OIDs, non-minimal lengths, local-time GeneralizedTime), so bytes we may
 * staple are read here instead: every length is definite and minimal, every constructed value
 * is exactly filled by its children, and the primitive types that appear in OCSP and X.509 are
 * checked for their DER form. The reader builds a light tree of offsets; nothing is copied.
 */
import { printable } from './printable.js';

/** One decoded TLV: offsets into the buffer it came from. */
export interface DerNode {
  /** The identifier octet (class, constructed bit and tag number in one byte). */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset of the first content octet. */
  readonly contentStart: number;
  /** Offset just past the last content octet. */
  readonly end: number;
  /** Children of a constructed value; empty for primitives. */
  readonly children: readonly DerNode[];
}

/** Why bytes are not DER; `trailing` separates "valid value followed by junk" from garbage. */
export class DerError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly trailing = false,
  ) {
    super(`${message} at byte ${offset}`);
    this.name = 'DerError';
  }
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const MAX_DEPTH = 32;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d*[1-9])?Z$/;
const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Decodes exactly one DER value filling all of `buf`; throws {@link DerError} otherwise.
 * With `allowTrailing`, decodes the value at the start and leaves what follows to the caller
 * (compare the root's `end` with the length).
 */
export function decodeDer(buf: Uint8Array, allowTrailing = false): DerNode {
  if (buf.length === 0) throw new DerError('no bytes', 0);
  const root = readNode(buf, 0, buf.length, 0);
  if (!allowTrailing && root.end !== buf.length) {
    throw new DerError(`${buf.length - root.end} trailing bytes after the value`, root.end, true);
  }
  return root;
}

function readNode(buf: Uint8Array, offset: number, limit: number, depth: number): DerNode {
  if (depth > MAX_DEPTH) throw new DerError('nesting too deep', offset);
  if (offset >= limit) throw new DerError('value missing', offset);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tag numbers are not used here', offset);
  // Universal tag 0 is end-of-contents, which only ends indefinite-length BER (X.690 8.1.5);
  // OpenSSL refuses it, e.g. as AlgorithmIdentifier parameters (found by fuzzing).
  if (tag === 0x00) throw new DerError('end-of-contents (tag 0) is not DER', offset);
  let pos = offset + 1;
  if (pos >= limit) throw new DerError('length missing', pos);
  const first = buf[pos++]!;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw new DerError('indefinite length is not DER', pos - 1);
    if (count > 4) throw new DerError('length too large', pos - 1);
    if (pos + count > limit) throw new DerError('length runs past the end', pos);
    if (buf[pos] === 0) throw new DerError('non-minimal length', pos);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[pos++]!;
    if (length < 0x80) throw new DerError('non-minimal length', pos - count - 1);
  }
  const contentStart = pos;
  const end = contentStart + length;
  if (end > limit) throw new DerError('value runs past its container', offset);

  const constructed = (tag & 0x20) !== 0;
  const universal = (tag & 0xc0) === 0;
  const children: DerNode[] = [];
  if (constructed) {
    if (universal && tag !== TAG.SEQUENCE && tag !== TAG.SET) {
      throw new DerError('constructed form of a primitive type is not DER', offset);
    }
    let child = contentStart;
    while (child < end) {
      const node = readNode(buf, child, end, depth + 1);
      children.push(node);
      child = node.end;
    }
  } else if (universal) {
    checkPrimitive(buf, tag, contentStart, end);
  }
  return { tag, start: offset, contentStart, end, children };
}

function checkPrimitive(buf: Uint8Array, tag: number, start: number, end: number): void {
  const length = end - start;
  switch (tag) {
    case TAG.BOOLEAN:
      if (length !== 1 || (buf[start] !== 0x00 && buf[start] !== 0xff)) {
        throw new DerError('BOOLEAN must be one byte, 00 or FF', start);
      }
      return;
    case TAG.INTEGER:
    case TAG.ENUMERATED:
      if (length === 0) throw new DerError('empty INTEGER', start);
      if (length > 1) {
        const a = buf[start]!;
        const b = buf[start + 1]!;
        if ((a === 0x00 && b < 0x80) || (a === 0xff && b >= 0x80)) {
          throw new DerError('non-minimal INTEGER', start);
        }
      }
      return;
    case TAG.BIT_STRING:
      if (length === 0 || buf[start]! > 7 || (length === 1 && buf[start] !== 0)) {
        throw new DerError('bad BIT STRING', start);
      }
      return;
    case TAG.NULL:
      if (length !== 0) throw new DerError('NULL with content', start);
      return;
    case TAG.OID:
      if (length === 0 || (buf[end - 1]! & 0x80) !== 0) throw new DerError('bad OBJECT IDENTIFIER', start);
      for (let i = start; i < end; i++) {
        const startsArc = i === start || (buf[i - 1]! & 0x80) === 0;
        if (startsArc && buf[i] === 0x80) throw new DerError('non-minimal OBJECT IDENTIFIER arc', i);
      }
      return;
    case TAG.GENERALIZED_TIME:
    case TAG.UTC_TIME:
      timeFrom(buf, { tag, start, contentStart: start, end, children: [] });
      return;
    // The rest were found by fuzzing: OpenSSL refuses them, e.g. as AlgorithmIdentifier parameters.
    case 0x10: // SEQUENCE and SET in primitive form (X.690 8.9.1, 8.11.1)
    case 0x11:
      throw new DerError('primitive form of SEQUENCE or SET', start);
    case 0x1c: // UniversalString: 4 bytes a character
      if (length % 4 !== 0) throw new DerError('UniversalString length is not a multiple of 4', start);
      return;
    case 0x1e: // BMPString: 2 bytes a character
      if (length % 2 !== 0) throw new DerError('BMPString length is not a multiple of 2', start);
      return;
    default:
      return;
  }
}

/** The content octets of a node. */
export function contentOf(buf: Uint8Array, node: DerNode): Uint8Array {
  return buf.subarray(node.contentStart, node.end);
}

/** The whole encoding (identifier, length, content) of a node. */
export function encodingOf(buf: Uint8Array, node: DerNode): Uint8Array {
  return buf.subarray(node.start, node.end);
}

/** A DER GeneralizedTime (UTC, `Z`) or UTCTime as a Date; throws {@link DerError} otherwise. */
export function timeFrom(buf: Uint8Array, node: DerNode): Date {
  if (node.end - node.contentStart > 32) throw new DerError('time value too long', node.start);
  // latin1 of a Buffer view, not String.fromCharCode(...bytes): spreading a typed array goes through
  // its iterator, which showed up in profiles of a lazy registry's start (no figure in bench/RESULTS.md).
  const content = contentOf(buf, node);
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('latin1');
  let parts: RegExpExecArray | null;
  let year: number;
  if (node.tag === TAG.GENERALIZED_TIME) {
    parts = GENERALIZED_TIME.exec(text);
    if (!parts) throw new DerError(`GeneralizedTime "${printable(text)}" is not DER (YYYYMMDDHHMMSS[.fff]Z)`, node.start);
    year = Number(parts[1]);
  } else if (node.tag === TAG.UTC_TIME) {
    parts = UTC_TIME.exec(text);
    if (!parts) throw new DerError(`UTCTime "${printable(text)}" is not DER (YYMMDDHHMMSSZ)`, node.start);
    const yy = Number(parts[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy; // RFC 5280 section 4.1.2.5.1
  } else {
    throw new DerError('expected a time', node.start);
  }
  const [month, day, hour, minute, second] = parts.slice(2, 7).map(Number) as [number, number, number, number, number];
  const fraction = node.tag === TAG.GENERALIZED_TIME && parts[7] ? Number(`0${parts[7]}`) : 0;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) + Math.floor(fraction * 1000);
  const check = new Date(ms);
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    throw new DerError(`time "${text}" is not a calendar date`, node.start);
  }
  return check;
}

/** Dotted form of an OBJECT IDENTIFIER node. */
export function oidFrom(buf: Uint8Array, node: DerNode): string {
  if (node.tag !== TAG.OID) throw new DerError('expected an OBJECT IDENTIFIER', node.start);
  const arcs: number[] = [];
  let value = 0;
  for (let i = node.contentStart; i < node.end; i++) {
    const byte = buf[i]!;
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        const first = value < 80 ? Math.floor(value / 40) : 2;
        arcs.push(first, value - first * 40);
      } else {
        arcs.push(value);
      }
      value = 0;
    }
  }
  return arcs.join('.');
}

/** Small non-negative INTEGER or ENUMERATED value. */
export function smallIntFrom(buf: Uint8Array, node: DerNode): number {
  const bytes = contentOf(buf, node);
  if (bytes.length > 4 || (bytes[0]! & 0x80) !== 0) throw new DerError('expected a small non-negative integer', node.start);
  let value = 0;
  for (const b of bytes) value = value * 256 + b;
  return value;
}

/** Throws unless `node` has identifier `tag`. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what} missing`, -1);
  if (node.tag !== tag) {
    throw new DerError(`${what}: expected tag 0x${hex2(tag)}, found 0x${hex2(node.tag)}`, node.start);
  }
  return node;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
