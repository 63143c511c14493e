/**
 * Distinguished Names compared as OpenSSL compares them: RFC 5280 section 7.1 lets a client
 * match names "case-insensitively and ignoring whitespace", and OpenSSL's X509_NAME_cmp compares
 * a canonical encoding (x509_name_canon in crypto/x509/x_name.c): every directory string turned
 * into UTF-8, leading and trailing white space removed, inner runs of white space folded to one
 * space, ASCII letters lower-cased; other attribute values kept as they are.
 */
import { contentOf, decodeDer, encodingOf, expectTag, oidFrom, TAG } from './der.js';

// Directory string types OpenSSL canonicalises (ASN1_MASK_CANON).
const UTF8 = 0x0c;
const PRINTABLE = 0x13;
const T61 = 0x14;
const IA5 = 0x16;
const VISIBLE = 0x1a;
const UNIVERSAL = 0x1c;
const BMP = 0x1e;

/**
 * A string that is the same for two Name encodings exactly when OpenSSL's X509_NAME_cmp calls
 * them equal. Throws a `DerError` when `name` is not a DER Name.
 */
export function canonicalName(name: Uint8Array): string {
  const root = expectTag(decodeDer(name), TAG.SEQUENCE, 'Name');
  return root.children
    .map((rdn) => {
      const set = expectTag(rdn, TAG.SET, 'RelativeDistinguishedName');
      // A SET OF is compared as a set: OpenSSL re-encodes it, which sorts it.
      return set.children
        .map((ava) => {
          const [type, value] = expectTag(ava, TAG.SEQUENCE, 'AttributeTypeAndValue').children;
          const oid = oidFrom(name, expectTag(type, TAG.OID, 'attribute type'));
          if (!value) return `${oid}=`;
          const text = directoryString(value.tag, contentOf(name, value));
          return text === undefined ? `${oid}#${Buffer.from(encodingOf(name, value)).toString('hex')}` : `${oid}=${JSON.stringify(canonical(text))}`;
        })
        .sort()
        .join('+');
    })
    .join(',');
}

/** True when OpenSSL would call the two DER Names equal; false when either cannot be read. */
export function namesMatch(a: Uint8Array, b: Uint8Array): boolean {
  if (Buffer.from(a).equals(Buffer.from(b))) return true;
  try {
    return canonicalName(a) === canonicalName(b);
  } catch {
    return false;
  }
}

function directoryString(tag: number, bytes: Uint8Array): string | undefined {
  const buf = Buffer.from(bytes);
  switch (tag) {
    case UTF8:
      return buf.toString('utf8');
    case PRINTABLE:
    case IA5:
    case VISIBLE:
    case T61: // OpenSSL reads T61String as Latin-1
      return buf.toString('latin1');
    case BMP:
      return buf.swap16().toString('utf16le');
    case UNIVERSAL: {
      let out = '';
      for (let i = 0; i + 3 < buf.length; i += 4) out += String.fromCodePoint(buf.readUInt32BE(i));
      return out;
    }
    default:
      return undefined;
  }
}

// OpenSSL's ossl_isspace: space, \t, \n, \v, \f, \r. Only ASCII letters change case.
function canonical(text: string): string {
  return text
    .replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '')
    .replace(/[ \t\n\v\f\r]+/g, ' ')
    .replace(/[A-Z]/g, (c) => c.toLowerCase());
}

const STRING_TYPES: Record<number, string> = {
  [UTF8]: 'UTF8String',
  [PRINTABLE]: 'PrintableString',
  [T61]: 'T61String',
  [IA5]: 'IA5String',
  [VISIBLE]: 'VisibleString',
  [UNIVERSAL]: 'UniversalString',
  [BMP]: 'BMPString',
};

/** The string types of a Name's attribute values, in order, e.g. "PrintableString, UTF8String". */
export function nameStringTypes(name: Uint8Array): string {
  try {
    const root = decodeDer(name);
    return root.children.flatMap((rdn) => rdn.children.map((ava) => {
      const tag = ava.children[1]?.tag ?? -1;
      return STRING_TYPES[tag] ?? `tag 0x${tag.toString(16)}`;
    })).join(', ');
  } catch {
    return 'an unreadable Name';
  }
}
