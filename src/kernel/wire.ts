/**
 * The Jupyter wire protocol (messaging spec 5.3): message headers, HMAC signing (every
 * `signature_scheme` jupyter_client accepts), refusing replayed messages, and turning zeromq frames
 * into messages and back. Shared by the kernel server and the client.
 */
import { createHmac, getHashes, randomUUID, timingSafeEqual } from "crypto";

export const PROTOCOL_VERSION = "5.3";
const DELIMITER = Buffer.from("<IDS|MSG>");

export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface Message<C = any> {
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: C;
  /** zeromq routing identities (ROUTER sockets); empty elsewhere. */
  identities: Buffer[];
  buffers: Buffer[];
}

/** The connection file a kernel is started with. */
export interface ConnectionInfo {
  transport: string;
  ip: string;
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  key: string;
  signature_scheme: string;
  kernel_name?: string;
}

export function makeHeader(msgType: string, session: string, username = "lepton"): MessageHeader {
  return {
    msg_id: randomUUID(),
    msg_type: msgType,
    session,
    username,
    date: new Date().toISOString(),
    version: PROTOCOL_VERSION,
  };
}

/**
 * The hash names jupyter_client accepts after "hmac-" (it looks the name up on Python's `hashlib`
 * module), with Node's name for the same digest. shake_128 / shake_256 are hashlib attributes too, but
 * an HMAC needs a fixed-length digest, so Python's own hmac fails with them: they are not listed.
 */
export const HASHLIB_TO_NODE: Readonly<Record<string, string>> = {
  md5: "md5",
  sha1: "sha1",
  sha224: "sha224",
  sha256: "sha256",
  sha384: "sha384",
  sha512: "sha512",
  sha3_224: "sha3-224",
  sha3_256: "sha3-256",
  sha3_384: "sha3-384",
  sha3_512: "sha3-512",
  blake2b: "blake2b512",
  blake2s: "blake2s256",
};

let nodeHashes: Set<string> | undefined;
function nodeHasHmac(name: string): boolean {
  nodeHashes ??= new Set(getHashes().map((h) => h.toLowerCase()));
  if (!nodeHashes.has(name)) return false;
  try {
    createHmac(name, "k").update("m").digest();
    return true;
  } catch {
    return false; // listed but refused (e.g. md5 under a FIPS OpenSSL)
  }
}

/** The signature schemes this Node.js can sign with: "hmac-" + a hashlib name, e.g. "hmac-sha256". */
export function supportedSignatureSchemes(): string[] {
  return Object.entries(HASHLIB_TO_NODE)
    .filter(([, node]) => nodeHasHmac(node))
    .map(([py]) => `hmac-${py}`);
}

/** Node's digest name for a connection file's `signature_scheme`; throws, naming the scheme and the supported ones, when there is none. */
export function nodeDigestFor(scheme: string): string {
  const supported = () => supportedSignatureSchemes().join(", ");
  const m = /^hmac-(.+)$/.exec(scheme);
  if (!m) {
    throw new Error(`unsupported signature_scheme ${JSON.stringify(scheme)}: it must be "hmac-" followed by a Python hashlib name; supported here: ${supported()}`);
  }
  const node = HASHLIB_TO_NODE[m[1]];
  if (!node) {
    throw new Error(`unsupported signature_scheme ${JSON.stringify(scheme)}: ${JSON.stringify(m[1])} is not a hashlib digest that HMAC can use; supported here: ${supported()}`);
  }
  if (!nodeHasHmac(node)) {
    throw new Error(`signature_scheme ${JSON.stringify(scheme)} is not available: this Node.js's crypto (OpenSSL ${process.versions.openssl}) cannot compute an HMAC with ${node}; supported here: ${supported()}`);
  }
  return node;
}

/** As ipykernel: jupyter_client's Session.digest_history_size. */
export const DIGEST_HISTORY_SIZE = 2 ** 16;

export interface SignerOptions {
  /**
   * Remember the signatures of verified messages and refuse one seen before
   * (`decode` throws DuplicateSignatureError), as ipykernel does. For a kernel: a request is never sent
   * twice with the same signature (each has its own msg_id and date), so a repeat is a replay. Only
   * applies when the key is non-empty (unsigned messages have no signature to remember).
   */
  rejectReplays?: boolean;
  /** How many signatures to remember (default 2**16, as jupyter_client); 0 remembers none. */
  digestHistorySize?: number;
}

/**
 * The signatures seen recently, at most `size` of them: past the cap the oldest tenth is forgotten
 * (jupyter_client forgets a random tenth; the oldest are the least likely to be replayed now).
 */
export class DigestHistory {
  private readonly seen = new Set<string>();

  constructor(readonly maxSize = DIGEST_HISTORY_SIZE) {}

  get size(): number {
    return this.seen.size;
  }

  has(signature: string): boolean {
    return this.seen.has(signature);
  }

  add(signature: string): void {
    if (this.maxSize <= 0) return;
    this.seen.add(signature);
    if (this.seen.size <= this.maxSize) return;
    let drop = Math.max(Math.floor(this.seen.size / 10), this.seen.size - this.maxSize);
    for (const old of this.seen) {
      if (drop-- <= 0) break;
      this.seen.delete(old); // a Set iterates in insertion order: oldest first
    }
  }
}

/** Signs and serialises messages with one connection key; rejects frames with a wrong signature (and, if asked, replays). */
export class Signer {
  private readonly key: string;
  private readonly digest: string;
  /** Set with `rejectReplays`: the signatures already accepted. */
  readonly history: DigestHistory | undefined;

  constructor(key: string, scheme = "hmac-sha256", options: SignerOptions = {}) {
    // Without a key nothing is signed, whatever the scheme (as jupyter_client).
    this.digest = key ? nodeDigestFor(scheme || "hmac-sha256") : "sha256";
    this.key = key;
    this.history = key && options.rejectReplays ? new DigestHistory(options.digestHistorySize ?? DIGEST_HISTORY_SIZE) : undefined;
  }

  sign(parts: (string | Buffer)[]): string {
    if (!this.key) return "";
    const hmac = createHmac(this.digest, this.key);
    for (const p of parts) hmac.update(p);
    return hmac.digest("hex");
  }

  /** zeromq frames for a message: identities, delimiter, signature, header, parent, metadata, content, buffers. */
  encode(msg: Pick<Message, "header" | "parent_header" | "metadata" | "content"> & { identities?: Buffer[]; buffers?: Buffer[] }): Buffer[] {
    const body = [msg.header, msg.parent_header, msg.metadata, msg.content].map((part) => Buffer.from(JSON.stringify(part)));
    return [...(msg.identities ?? []), DELIMITER, Buffer.from(this.sign(body)), ...body, ...(msg.buffers ?? [])];
  }

  /**
   * Parse frames; throws InvalidSignatureError when the signature does not match the key, and (with
   * `rejectReplays`) DuplicateSignatureError when a message with this signature was accepted before.
   */
  decode(frames: Buffer[]): Message {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    if (at < 0 || frames.length < at + 6) throw new Error("malformed Jupyter message: no <IDS|MSG> delimiter or too few frames");
    const signature = frames[at + 1].toString();
    const body = frames.slice(at + 2, at + 6);
    if (this.key) {
      const expected = Buffer.from(this.sign(body));
      const given = Buffer.from(signature);
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new InvalidSignatureError();
    }
    const [header, parent_header, metadata, content] = body.map((b) => JSON.parse(b.toString("utf8")));
    if (this.history) {
      // Only verified signatures are remembered: forged frames cannot push real ones out.
      if (this.history.has(signature)) throw new DuplicateSignatureError(signature, header);
      this.history.add(signature);
    }
    return { header, parent_header, metadata, content, identities: frames.slice(0, at), buffers: frames.slice(at + 6) };
  }
}

export class InvalidSignatureError extends Error {
  constructor() {
    super("Jupyter message with an invalid HMAC signature (dropped)");
    this.name = "InvalidSignatureError";
  }
}

/** A correctly signed message whose signature was seen before: a replay (jupyter_client: "Duplicate Signature"). */
export class DuplicateSignatureError extends Error {
  constructor(readonly signature: string, header?: Partial<MessageHeader>) {
    super(`Jupyter message with a signature seen before (a replayed ${header?.msg_type ?? "message"}` +
      `${header?.msg_id ? ` ${header.msg_id}` : ""}, signature ${signature.slice(0, 16)}...): refused`);
    this.name = "DuplicateSignatureError";
  }
}
