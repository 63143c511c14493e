/**
 * -H: puts the client's address in X-Forwarded-For of every HTTP/1.x request on its way to the
 * server, and fails closed: a request it cannot frame exactly is answered 400 (431 for a head
 * over {@link MAX_HEAD}) and the connection is closed; nothing it has not framed reaches the
 * server. What it guarantees is in the README ("-H: what reaches the server").
 *
 * Two halves, one per direction:
 * - client to server (this Transform): request heads are parsed strictly (RFC 9112), every
 *   client-sent X-Forwarded-For is removed and its values merged into one header that ends with
 *   the client address; bodies are framed by Content-Length or by chunked coding, chunk by chunk
 *   (extensions are checked and dropped: the server sees canonical chunk-size lines).
 * - server to client ({@link ForwardedFor.fromServer}, fed a copy of what the server sends):
 *   responses are framed only enough to count them, so that an `Upgrade` (or CONNECT) request
 *   turns the connection into a tunnel only once the server answers 101 (2xx for CONNECT), and
 *   a 400 is sent only after the answers to the requests before it.
 */
import type { Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

/** Largest request head (request line, fields, and the empty lines before it), in bytes. */
export const MAX_HEAD = 64 * 1024;
/** Longest chunk-size line, extensions included. */
const MAX_CHUNK_LINE = 4096;
/** Largest response head followed; a bigger one stops the following (and so upgrades). */
const MAX_RESPONSE_HEAD = 256 * 1024;

const CR = 0x0d;
const LF = 0x0a;
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const REQUEST_LINE = new RegExp(`^(${TOKEN}) ([\\x21-\\x7e]+) HTTP/1\\.([01])$`);
const FIELD = new RegExp(`^(${TOKEN}):[ \\t]*(.*?)[ \\t]*$`);
/** Field values: visible characters, obs-text, SP and HTAB (RFC 9110 section 5.5); no CTL. */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const QUOTED = '"(?:[\\t \\x21\\x23-\\x5b\\x5d-\\x7e\\x80-\\xff]|\\\\[\\t \\x21-\\x7e\\x80-\\xff])*"';
/** chunk = chunk-size *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) (RFC 9112 section 7.1.1). */
const CHUNK_LINE = new RegExp(`^([0-9A-Fa-f]{1,16})((?:[ \\t]*;[ \\t]*${TOKEN}(?:[ \\t]*=[ \\t]*(?:${TOKEN}|${QUOTED}))?)*)$`);
/** Content-Length: decimal, no sign, no leading zeros (parsers disagree on them: octal, or not), below 2^53. */
const CONTENT_LENGTH = /^(0|[1-9][0-9]{0,14})$/;
/** Fields never accepted in a trailer section: framing, routing, and the one -H rewrites (RFC 9110 section 6.5.1). */
const NOT_IN_TRAILERS = new Set(['content-length', 'transfer-encoding', 'host', 'x-forwarded-for', 'connection', 'upgrade']);

type Mode = 'head' | 'length' | 'chunk-line' | 'chunk-data' | 'chunk-end' | 'trailers' | 'hold' | 'tunnel' | 'refused';

/** A request forwarded to the server, waiting for its answer. */
interface Sent {
  readonly method: string;
  /** The connection becomes a tunnel if the server agrees (101; 2xx for CONNECT). */
  readonly upgrade: boolean;
}


/** Thrown inside the parser: what to answer. */
class Refusal extends Error {
  readonly status: 400 | 431;

  constructor(status: 400 | 431, reason: string) {
    super(reason);
    this.status = status;
  }
}

/**
 * A Transform that rewrites X-Forwarded-For in each HTTP/1.x request, or refuses the connection.
 * Event `'refuse'` (response: Buffer | null): the connection must end; reset the connection to
 * the server (do not end it cleanly: a request may have been cut short), send `response` to the
 * client (null: nothing can be sent in order) and close it. Emitted once, after the server's
 * answers to every request forwarded whole before the refused one.
 */
export class ForwardedFor extends Transform {
  readonly #address: string;
  #mode: Mode = 'head';
  #buffer: Buffer = Buffer.alloc(0);
  /** Where the head scan stopped (bytes of #buffer already known to hold no head end). */
  #scanned = 0;
  #left = 0;
  /** Whether the request whose body is being framed asks for an upgrade. */
  #upgrade = false;
  #trailerBytes = 0;
  /** The transform callback held while an upgrade waits for the server's answer. */
  #held: TransformCallback | null = null;
  #heldFlush: TransformCallback | null = null;
  #refusal: Buffer | null = null;
  /** Answers to wait for before the refusal is sent: those of the requests forwarded whole. */
  #refuseAfter = 0;
  #refuseSent = false;
  readonly #responses = new Responses();

  constructor(address: string) {
    super();
    this.#address = address;
  }

  /** Requests rewritten and forwarded so far. */
  get forwarded(): number {
    return this.#responses.sent;
  }

  /** Feeds a copy of what the server sent to the client: decides upgrades and when a refusal may be sent. */
  fromServer(chunk: Buffer): void {
    this.#responses.feed(chunk);
    this.#afterResponses();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#mode === 'tunnel') {
      callback(null, chunk);
      return;
    }
    if (this.#mode === 'refused') {
      callback();
      return;
    }
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    this.#run();
    if (this.#mode === 'hold') this.#held = callback;
    else callback();
  }

  override _flush(callback: TransformCallback): void {
    // Refused: the stream never ends, so the server never sees a clean end after a request cut
    // short (a lenient server would take what it has as the whole body); the connection to it
    // is reset instead (see the 'refuse' event).
    if (this.#mode === 'refused') return;
    if (this.#mode === 'hold') {
      this.#heldFlush = callback;
      return;
    }
    // An unfinished head at the end is dropped: the server never sees half a request.
    callback();
  }

  /** Consumes #buffer as far as the mode allows. */
  #run(): void {
    try {
      while (this.#buffer.length > 0 && this.#step());
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      this.#refuse(err);
    }
  }

  /** One step of the state machine; false when it needs more bytes. */
  #step(): boolean {
    switch (this.#mode) {
      case 'head':
        return this.#head();
      case 'length': {
        const n = Math.min(this.#left, this.#buffer.length);
        this.push(this.#buffer.subarray(0, n));
        this.#buffer = this.#buffer.subarray(n);
        this.#left -= n;
        if (this.#left === 0) this.#endOfRequest();
        return true;
      }
      case 'chunk-line': {
        const line = this.#line(MAX_CHUNK_LINE, 'chunk-size line');
        if (line === null) return false;
        const m = CHUNK_LINE.exec(line);
        if (!m) throw new Refusal(400, 'malformed chunk-size line');
        const size = Number.parseInt(m[1]!, 16);
        if (!Number.isSafeInteger(size)) throw new Refusal(400, 'chunk size too large');
        if (size === 0) {
          this.#mode = 'trailers';
          this.#trailerBytes = 0;
          this.push(Buffer.from('0\r\n', 'latin1'));
        } else {
          this.#mode = 'chunk-data';
          this.#left = size;
          this.push(Buffer.from(`${size.toString(16)}\r\n`, 'latin1'));
        }
        return true;
      }
      case 'chunk-data': {
        const n = Math.min(this.#left, this.#buffer.length);
        this.push(this.#buffer.subarray(0, n));
        this.#buffer = this.#buffer.subarray(n);
        this.#left -= n;
        if (this.#left === 0) this.#mode = 'chunk-end';
        return true;
      }
      case 'chunk-end': {
        if (this.#buffer.length < 2) {
          if (this.#buffer[0] !== CR) throw new Refusal(400, 'chunk data not followed by CRLF');
          return false;
        }
        if (this.#buffer[0] !== CR || this.#buffer[1] !== LF) throw new Refusal(400, 'chunk data not followed by CRLF');
        this.push(this.#buffer.subarray(0, 2));
        this.#buffer = this.#buffer.subarray(2);
        this.#mode = 'chunk-line';
        return true;
      }
      case 'trailers': {
        const line = this.#line(MAX_HEAD - this.#trailerBytes, 'trailer section');
        if (line === null) return false;
        this.#trailerBytes += line.length + 2;
        if (line === '') {
          this.push(Buffer.from('\r\n', 'latin1'));
          this.#endOfRequest();
          return true;
        }
        const { name } = field(line);
        if (NOT_IN_TRAILERS.has(name) || isForwardedForAlias(name)) throw new Refusal(400, `${name} in a trailer section`);
        this.push(Buffer.from(`${line}\r\n`, 'latin1'));
        return true;
      }
      default:
        return false;
    }
  }

  /**
   * One CRLF-terminated line from #buffer (without the CRLF), or null when it is not all here.
   * A bare LF or CR is refused: parsers disagree on them.
   */
  #line(max: number, what: string): string | null {
    const lf = this.#buffer.indexOf(LF);
    if (lf < 0) {
      if (this.#buffer.length > max) throw new Refusal(what === 'trailer section' ? 431 : 400, `${what} too long`);
      const cr = this.#buffer.indexOf(CR);
      if (cr >= 0 && cr < this.#buffer.length - 1) throw new Refusal(400, 'CR not followed by LF');
      return null;
    }
    if (lf > max + 1) throw new Refusal(what === 'trailer section' ? 431 : 400, `${what} too long`);
    if (lf === 0 || this.#buffer[lf - 1] !== CR) throw new Refusal(400, 'bare LF');
    const line = this.#buffer.subarray(0, lf - 1).toString('latin1');
    if (line.includes('\r')) throw new Refusal(400, 'CR not followed by LF');
    this.#buffer = this.#buffer.subarray(lf + 1);
    return line;
  }

  /** Finds, checks and rewrites one request head. */
  #head(): boolean {
    const buffer = this.#buffer;
    // Empty lines before a request line are skipped (RFC 9112 section 2.2), within the head cap.
    let start = 0;
    while (start + 1 < buffer.length && buffer[start] === CR && buffer[start + 1] === LF) start += 2;
    if (start > MAX_HEAD) throw new Refusal(431, `request head over ${MAX_HEAD} bytes`);
    // Each LF must end a CRLF; the head ends at the first empty line.
    let end = -1;
    let lineStart = Math.max(start, this.#scanned);
    for (let i = buffer.indexOf(LF, lineStart); i >= 0; i = buffer.indexOf(LF, i + 1)) {
      if (i === 0 || buffer[i - 1] !== CR) throw new Refusal(400, 'bare LF in the request head');
      if (i - 1 === lineStart) {
        end = i + 1;
        break;
      }
      lineStart = i + 1;
    }
    if (end < 0) {
      this.#scanned = lineStart;
      if (buffer.length > MAX_HEAD) throw new Refusal(431, `request head over ${MAX_HEAD} bytes`);
      if (!couldBeRequest(buffer.subarray(start, start + 32))) throw new Refusal(400, 'not an HTTP/1.x request');
      return false;
    }
    if (end > MAX_HEAD) throw new Refusal(431, `request head over ${MAX_HEAD} bytes`);
    this.#scanned = 0;
    const text = buffer.subarray(start, end - 4).toString('latin1');
    this.#buffer = buffer.subarray(end);
    const request = parseHead(text);
    const merged = [...request.forwardedFor.filter((v) => v !== ''), this.#address].join(', ');
    this.push(Buffer.from(`${request.lines.join('\r\n')}\r\nX-Forwarded-For: ${merged}\r\n\r\n`, 'latin1'));
    this.#upgrade = request.upgrade;
    this.#responses.expect({ method: request.method, upgrade: request.upgrade });
    if (request.chunked) {
      this.#mode = 'chunk-line';
    } else if (request.length > 0) {
      this.#mode = 'length';
      this.#left = request.length;
    } else {
      this.#endOfRequest();
    }
    return true;
  }

  #endOfRequest(): void {
    if (this.#upgrade) {
      // Nothing more goes to the server until it says whether it switched protocols.
      this.#mode = 'hold';
      this.#afterResponses();
    } else {
      this.#mode = 'head';
    }
  }

  #refuse(refusal: Refusal): void {
    // A request whose head went out but whose body did not end will not be answered.
    this.#refuseAfter = this.#responses.sent - (this.#mode === 'head' ? 0 : 1);
    this.#mode = 'refused';
    this.#buffer = Buffer.alloc(0);
    const text = `${refusal.message}\n`;
    const reason = refusal.status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
    this.#refusal = Buffer.from(`HTTP/1.1 ${refusal.status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\nConnection: close\r\n\r\n${text}`, 'latin1');
    this.#afterResponses();
  }

  /** Acts on what the server's answers decided. */
  #afterResponses(): void {
    const r = this.#responses;
    if (this.#mode === 'refused') {
      if (this.#refuseSent) return;
      if (r.lost) this.#emitRefuse(null);
      else if (r.answered >= this.#refuseAfter) this.#emitRefuse(this.#refusal);
      return;
    }
    if (this.#mode !== 'hold') return;
    if (r.lost) {
      this.#mode = 'refused';
      this.#emitRefuse(null);
    } else if (r.tunnel) {
      this.#mode = 'tunnel';
      this.push(this.#buffer);
      this.#buffer = Buffer.alloc(0);
    } else if (r.pending === 0) {
      // The server answered the upgrade request without switching: back to HTTP.
      this.#upgrade = false;
      this.#mode = 'head';
      this.#run();
    } else {
      return;
    }
    if ((this.#mode as Mode) === 'hold') return;
    const held = this.#held;
    this.#held = null;
    held?.();
    const flush = this.#heldFlush;
    this.#heldFlush = null;
    flush?.();
  }

  // After the current 'data' event: whoever relays the server's bytes to the client has then
  // written the last answer, and the refusal follows it.
  #emitRefuse(response: Buffer | null): void {
    this.#refuseSent = true;
    const held = this.#held;
    const flush = this.#heldFlush;
    this.#held = this.#heldFlush = null;
    held?.();
    flush?.();
    setImmediate(() => this.emit('refuse', response));
  }
}

/** What a checked request head says. */
interface Head {
  readonly method: string;
  /** Request line and fields, X-Forwarded-For removed. */
  readonly lines: string[];
  readonly forwardedFor: string[];
  readonly length: number;
  readonly chunked: boolean;
  readonly upgrade: boolean;
}

/** Checks a request head (without its final CRLF CRLF). Throws a {@link Refusal}. */
function parseHead(text: string): Head {
  const [requestLine, ...fields] = text.split('\r\n');
  const m = REQUEST_LINE.exec(requestLine!);
  if (!m) throw new Refusal(400, 'malformed request line');
  const method = m[1]!;
  const http10 = m[3] === '0';
  const lines = [requestLine!];
  const forwardedFor: string[] = [];
  let length: string | null = null;
  let encoding: string | null = null;
  let hosts = 0;
  let upgrade = method === 'CONNECT';
  for (const line of fields) {
    if (line.startsWith(' ') || line.startsWith('\t')) throw new Refusal(400, 'obs-fold (a field line starting with whitespace)');
    const { name, value } = field(line);
    if (name === 'x-forwarded-for') {
      forwardedFor.push(value);
      continue;
    }
    if (isForwardedForAlias(name)) throw new Refusal(400, `${name}: spelt like X-Forwarded-For`);
    switch (name) {
      case 'content-length':
        if (length !== null) throw new Refusal(400, 'more than one Content-Length');
        if (!CONTENT_LENGTH.test(value)) throw new Refusal(400, 'Content-Length is not a plain decimal number');
        length = value;
        break;
      case 'transfer-encoding':
        if (encoding !== null) throw new Refusal(400, 'more than one Transfer-Encoding');
        encoding = value;
        break;
      case 'host':
        if (++hosts > 1) throw new Refusal(400, 'more than one Host');
        break;
      case 'upgrade':
        upgrade = true;
        break;
      case 'connection':
        // A hop-by-hop X-Forwarded-For would be dropped by the next proxy.
        if (value.toLowerCase().split(',').some((t) => t.trim() === 'x-forwarded-for')) throw new Refusal(400, 'Connection names X-Forwarded-For');
        break;
    }
    lines.push(line);
  }
  if (encoding !== null) {
    if (length !== null) throw new Refusal(400, 'both Transfer-Encoding and Content-Length');
    if (http10) throw new Refusal(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (encoding.toLowerCase() !== 'chunked') throw new Refusal(400, 'Transfer-Encoding other than exactly "chunked"');
  }
  return { method, lines, forwardedFor, length: length === null ? 0 : Number(length), chunked: encoding !== null, upgrade };
}

/** Splits and checks one field line. */
function field(line: string): { name: string; value: string } {
  const m = FIELD.exec(line);
  if (!m) throw new Refusal(400, line.includes(':') ? 'malformed field name (whitespace before the colon?)' : 'field line without a colon');
  if (BAD_VALUE.test(m[2]!)) throw new Refusal(400, 'control character in a field value');
  return { name: m[1]!.toLowerCase(), value: m[2]! };
}

/** `X_Forwarded_For` and mixes: CGI and WSGI servers read them as X-Forwarded-For. */
function isForwardedForAlias(name: string): boolean {
  return name !== 'x-forwarded-for' && name.replace(/_/g, '-') === 'x-forwarded-for';
}

/** While a head is incomplete: could what we have start a request line? */
function couldBeRequest(start: Buffer): boolean {
  return new RegExp(`^(${TOKEN})?( |$)`).test(start.toString('latin1').split('\r')[0]!);
}

/**
 * Follows the server's answers: how many requests are still unanswered, and whether the
 * server switched protocols. Not a validator: it only needs to find where each answer ends.
 */
class Responses {
  readonly #waiting: Sent[] = [];
  #buffer: Buffer = Buffer.alloc(0);
  #state: 'head' | 'length' | 'chunk-line' | 'chunk-data' | 'trailers' | 'until-close' = 'head';
  #left = 0;
  sent = 0;
  /** Final answers received whole, body included. */
  answered = 0;
  tunnel = false;
  /** The answers can no longer be followed (malformed, unexpected, or delimited by close). */
  lost = false;

  expect(request: Sent): void {
    this.sent++;
    this.#waiting.push(request);
  }

  /** Requests forwarded whose final answer has not begun. */
  get pending(): number {
    return this.#waiting.length;
  }

  feed(chunk: Buffer): void {
    if (this.tunnel || this.lost) return;
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length > 0 && !this.tunnel && !this.lost && this.#step());
    if (this.tunnel || this.lost) this.#buffer = Buffer.alloc(0);
  }

  #step(): boolean {
    switch (this.#state) {
      case 'head': {
        const end = this.#buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.#buffer.length > MAX_RESPONSE_HEAD) this.lost = true;
          return false;
        }
        const lines = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
        this.#buffer = this.#buffer.subarray(end + 4);
        this.#answer(lines);
        return true;
      }
      case 'length':
      case 'chunk-data': {
        const n = Math.min(this.#left, this.#buffer.length);
        this.#buffer = this.#buffer.subarray(n);
        this.#left -= n;
        if (this.#left === 0) {
          if (this.#state === 'length') this.#done();
          else this.#state = 'chunk-line';
        }
        return true;
      }
      case 'chunk-line':
      case 'trailers': {
        const lf = this.#buffer.indexOf(LF);
        if (lf < 0) {
          if (this.#buffer.length > MAX_CHUNK_LINE) this.lost = true;
          return false;
        }
        const line = this.#buffer.subarray(0, lf).toString('latin1').replace(/\r$/, '');
        this.#buffer = this.#buffer.subarray(lf + 1);
        if (this.#state === 'trailers') {
          if (line === '') this.#done();
          return true;
        }
        if (line === '') return true; // the CRLF after chunk data
        const size = Number.parseInt(line, 16);
        if (!/^[0-9A-Fa-f]+/.test(line) || !Number.isSafeInteger(size)) this.lost = true;
        else if (size === 0) this.#state = 'trailers';
        else {
          this.#state = 'chunk-data';
          this.#left = size;
        }
        return true;
      }
      case 'until-close':
        this.lost = true;
        return false;
    }
  }

  #answer(lines: string[]): void {
    const m = /^HTTP\/1\.[01] ([1-5][0-9][0-9])(?: |$)/.exec(lines[0]!);
    const request = this.#waiting[0];
    if (!m || !request) {
      this.lost = true;
      return;
    }
    const status = Number(m[1]);
    if (status === 101) {
      if (request.upgrade && request.method !== 'CONNECT') this.tunnel = true;
      else this.lost = true;
      return;
    }
    if (status < 200) return; // interim answer (100 Continue, 103): the real one follows
    this.#waiting.shift();
    if (request.method === 'CONNECT' && status < 300) {
      this.tunnel = true;
      return;
    }
    let length: number | null = null;
    let chunked = false;
    let encoded = false;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== null && length !== Number(value))) {
          this.lost = true;
          return;
        }
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        encoded = true;
        chunked = value.toLowerCase().split(',').pop()!.trim() === 'chunked';
      }
    }
    if (request.method === 'HEAD' || status === 204 || status === 304) this.#done();
    else if (encoded) this.#state = chunked ? 'chunk-line' : 'until-close';
    else if (length === 0) this.#done();
    else if (length !== null) {
      this.#state = 'length';
      this.#left = length;
    } else this.#state = 'until-close';
    if (this.#state === 'until-close') this.lost = true;
  }

  /** A final answer ended. */
  #done(): void {
    this.#state = 'head';
    this.answered++;
  }
}

/** How long a refused client may take to read its 400 and hang up before it is cut off. */
const LINGER_MS = 5000;

/**
 * Answers a client the rewriter refused: `response`, then close; at once when there is none.
 * The socket is not destroyed at once: unread input would make the kernel send a reset that can
 * overtake the 400.
 */
export function endRefused(client: Socket, response: Buffer | null): void {
  if (response === null) {
    client.destroy();
    return;
  }
  client.end(response);
  setTimeout(() => client.destroy(), LINGER_MS).unref();
}
