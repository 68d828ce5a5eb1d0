/**
 * Generic forwarding: every method of every public service is served by calling the same
 * method on the owning service over gRPC (Connect's gRPC transport, one HTTP/2 connection
 * per upstream, kept open). No method is written by hand; the deadline, request id, client
 * IP and caller's authorization travel downstream.
 */
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { createClient, type ConnectRouter, type HandlerContext, type Transport } from "@connectrpc/connect";
import { clientIpKey, requestIdKey } from "./context-keys.js";
import type { PublicService, UpstreamName } from "./upstreams.js";

type AnyCall = (input: unknown, options: object) => unknown;

export interface ForwardHeaders {
  authorization: string | null;
  requestId: string;
  clientIp: string;
}

export class Forwarder {
  private readonly calls = new Map<string, AnyCall>();

  constructor(
    services: readonly PublicService[],
    transports: Record<UpstreamName, Transport>,
    private readonly defaultDeadlineMs: number,
  ) {
    for (const { service, upstream } of services) {
      const client = createClient(service, transports[upstream]) as unknown as Record<string, AnyCall>;
      for (const method of service.methods) this.calls.set(`${service.typeName}/${method.name}`, client[method.localName]!.bind(client));
    }
  }

  /** Registers every method of every service on the router. */
  register(router: ConnectRouter, services: readonly PublicService[]): void {
    for (const { service } of services) {
      const implementation: Record<string, unknown> = {};
      for (const method of service.methods) {
        implementation[method.localName] = (input: unknown, ctx: HandlerContext) =>
          this.call(service, method, input, {
            authorization: ctx.requestHeader.get("authorization"),
            requestId: ctx.values.get(requestIdKey),
            clientIp: ctx.values.get(clientIpKey),
          }, ctx.timeoutMs(), ctx.signal);
      }
      router.service(service, implementation as Parameters<ConnectRouter["service"]>[1]);
    }
  }

  /** Calls the upstream method; a unary call gets the caller's remaining time, capped by the default. */
  call(service: DescService, method: DescMethod, input: unknown, forward: ForwardHeaders, callerTimeoutMs: number | undefined, signal: AbortSignal): unknown {
    const call = this.calls.get(`${service.typeName}/${method.name}`);
    if (!call) throw new Error(`no upstream for ${service.typeName}/${method.name}`);
    const headers: Record<string, string> = { "x-request-id": forward.requestId, "x-forwarded-for": forward.clientIp };
    if (forward.authorization) headers.authorization = forward.authorization;
    const unary = method.methodKind === "unary";
    const timeoutMs = unary ? Math.min(callerTimeoutMs ?? this.defaultDeadlineMs, this.defaultDeadlineMs) : callerTimeoutMs;
    return call(input, timeoutMs === undefined ? { headers, signal } : { headers, signal, timeoutMs });
  }
}
