/**
 * -H: adds the client's address to X-Forwarded-For in HTTP/1.x requests on their way to the
 * server. A small streaming rewriter, not an HTTP parser: it finds each request head, adds or
 * extends the header, and skips Content-Length bodies to reach the next request on a
 * keep-alive connection.
 *
 * Limits (documented in the README): after a request with Transfer-Encoding (chunked), an
 * Upgrade or CONNECT, or anything that does not look like an HTTP/1.x request head, the rest of
 * the connection is passed through untouched. Pen has the same kind of limit.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Largest request head looked at; a bigger one is passed through unchanged. */
const MAX_HEAD = 64 * 1024;
const REQUEST_LINE = /^[A-Z]{1,20} [^\s]+ HTTP\/1\.[01]\r\n/;
const END = Buffer.from('\r\n\r\n');

/** A Transform that adds `X-Forwarded-For: address` to each HTTP/1.x request head. */
export class ForwardedFor extends Transform {
  readonly #address: string;
  #pending = Buffer.alloc(0);
  #bodyLeft = 0;
  #passThrough = false;

  constructor(address: string) {
    super();
    this.#address = address;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let data = chunk;
    while (data.length > 0) {
      if (this.#passThrough) {
        this.push(data);
        break;
      }
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, data.length);
        this.push(data.subarray(0, n));
        this.#bodyLeft -= n;
        data = data.subarray(n);
        continue;
      }
      const buffer = this.#pending.length ? Buffer.concat([this.#pending, data]) : data;
      const end = buffer.indexOf(END);
      if (end < 0) {
        if (buffer.length > MAX_HEAD || !couldBeRequest(buffer)) this.#giveUp(buffer);
        else this.#pending = Buffer.from(buffer);
        break;
      }
      this.#pending = Buffer.alloc(0);
      const head = buffer.subarray(0, end + 2).toString('latin1');
      const rest = buffer.subarray(end + 4);
      if (end + 4 > MAX_HEAD || !REQUEST_LINE.test(head)) {
        this.#giveUp(buffer);
        break;
      }
      this.push(Buffer.from(this.#rewrite(head) + '\r\n', 'latin1'));
      data = rest;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.#pending.length) this.push(this.#pending);
    callback();
  }

  #giveUp(buffer: Buffer): void {
    this.#passThrough = true;
    this.#pending = Buffer.alloc(0);
    this.push(buffer);
  }

  /** Adds the header to `head` (request line and headers, ending in CRLF) and sets body state. */
  #rewrite(head: string): string {
    const lines = head.slice(0, -2).split('\r\n');
    let found = false;
    let length = 0;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = colon < 0 ? '' : line.slice(0, colon).trim().toLowerCase();
      const value = colon < 0 ? '' : line.slice(colon + 1).trim();
      if (name === 'x-forwarded-for' && !found) {
        lines[i] = `${line.slice(0, colon)}: ${value === '' ? this.#address : `${value}, ${this.#address}`}`;
        found = true;
      } else if (name === 'content-length') {
        length = /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
      } else if (name === 'transfer-encoding' || name === 'upgrade') {
        this.#passThrough = true;
      }
    }
    if (lines[0]!.startsWith('CONNECT ') || Number.isNaN(length)) this.#passThrough = true;
    if (!found) lines.push(`X-Forwarded-For: ${this.#address}`);
    this.#bodyLeft = length;
    return lines.join('\r\n') + '\r\n';
  }
}

// While a head is incomplete: does what we have so far start like a request line?
function couldBeRequest(buffer: Buffer): boolean {
  const start = buffer.subarray(0, 32).toString('latin1');
  return /^[A-Z]{0,20}( |$)/.test(start);
}
