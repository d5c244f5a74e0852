/**
 * The Jupyter wire protocol (messaging spec 5.3): message headers, HMAC-SHA256 signing, and turning
 * zeromq frames into messages and back. Shared by the kernel server and the client.
 */
import { createHmac, randomUUID, timingSafeEqual } from "crypto";

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

/** Signs and serialises messages with one connection key; rejects frames with a wrong signature. */
export class Signer {
  private readonly key: string;

  constructor(key: string, scheme = "hmac-sha256") {
    if (key && scheme !== "hmac-sha256") {
      throw new Error(`unsupported signature_scheme ${JSON.stringify(scheme)}: only hmac-sha256 is implemented`);
    }
    this.key = key;
  }

  sign(parts: (string | Buffer)[]): string {
    if (!this.key) return "";
    const hmac = createHmac("sha256", this.key);
    for (const p of parts) hmac.update(p);
    return hmac.digest("hex");
  }

  /** zeromq frames for a message: identities, delimiter, signature, header, parent, metadata, content, buffers. */
  encode(msg: Pick<Message, "header" | "parent_header" | "metadata" | "content"> & { identities?: Buffer[]; buffers?: Buffer[] }): Buffer[] {
    const body = [msg.header, msg.parent_header, msg.metadata, msg.content].map((part) => Buffer.from(JSON.stringify(part)));
    return [...(msg.identities ?? []), DELIMITER, Buffer.from(this.sign(body)), ...body, ...(msg.buffers ?? [])];
  }

  /** Parse frames; throws InvalidSignatureError when the signature does not match the key. */
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
    return { header, parent_header, metadata, content, identities: frames.slice(0, at), buffers: frames.slice(at + 6) };
  }
}

export class InvalidSignatureError extends Error {
  constructor() {
    super("Jupyter message with an invalid HMAC signature (dropped)");
    this.name = "InvalidSignatureError";
  }
}
