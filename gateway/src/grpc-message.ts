/**
 * The grpc-message trailer as the gRPC spec writes it. connect-node percent-encodes an error
 * message with encodeURIComponent (";" → %3B, "," → %2C, "/" → %2F …), which the spec allows,
 * but grpc-js decodes it with decodeURI, which leaves exactly those escapes in place: grpc-js
 * apps read "pickup%3B drop%2C …". The spec's own encoding escapes only what must be (bytes
 * outside printable ASCII, and "%"), and every decoder reads that back intact.
 */
import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";

/** The same message, escaped only where the gRPC spec says (anything else passes through unchanged). */
export function specEncodedGrpcMessage(encoded: string): string {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    return encoded; // not percent-encoding we know: leave it as sent
  }
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * For a gRPC call (not gRPC-Web, whose trailers travel in the body and are read with
 * decodeURIComponent), rewrites the grpc-message trailer connect-node adds at the end.
 */
export function specEncodeGrpcMessageTrailer(
  contentType: string | undefined,
  res: ServerResponse | Http2ServerResponse,
): void {
  if (!contentType || !/^application\/grpc($|[+;])/i.test(contentType)) return;
  const addTrailers = res.addTrailers.bind(res) as (trailers: Record<string, string | string[] | undefined>) => void;
  res.addTrailers = ((trailers: Record<string, string | string[] | undefined>) => {
    const rewritten = { ...trailers };
    for (const [name, value] of Object.entries(trailers)) {
      if (name.toLowerCase() === "grpc-message" && typeof value === "string")
        rewritten[name] = specEncodedGrpcMessage(value);
    }
    addTrailers(rewritten);
  }) as typeof res.addTrailers;
}
