/**
 * The service mesh: who this process is, and the TLS credentials that prove it. Every internal
 * call (service to service, gateway to service) is mutual TLS: the client presents a certificate
 * naming the calling service, the server one naming the service called, both signed by the mesh
 * CA, and each side checks the other. The handshake happens once per connection; calls then ride
 * the connection and the server reads the caller from it.
 *
 * Three ways to hold certificates:
 * - files (production): MESH_CERT_FILE / MESH_KEY_FILE / MESH_CA_FILE, re-read every
 *   MESH_CERT_REFRESH_MS, so certificates that cert-manager renews take effect without a restart;
 * - development: a CA made on first start under DATA_DIR/mesh, and a certificate per service;
 * - the all-in-one in production: a CA made in memory at start, never written, for a plane that
 *   never leaves the process's loopback.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  createMeshCa,
  issueServiceCertificate,
  loadOrCreateDevCa,
  loadOrIssueDevCertificate,
  spiffeId,
  uriSans,
  type KeyPairPem,
  type MeshCa,
} from "./certificates.js";

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

export interface MeshSettings {
  MESH_TRUST_DOMAIN: string;
  /** When set, the certificate file must name this identity. */
  MESH_IDENTITY?: string | undefined;
  MESH_CERT_FILE?: string | undefined;
  MESH_KEY_FILE?: string | undefined;
  MESH_CA_FILE?: string | undefined;
  MESH_CERT_REFRESH_MS: number;
  DATA_DIR: string;
}

export type MeshSource = "files" | "development" | "in-memory";

export class Mesh {
  private readonly channelCredentialsCache = new Map<string, grpc.ChannelCredentials>();
  private readonly providers = new Map<string, CertificateProvider>();
  private readonly callerBySans = new Map<string, string | undefined>();
  /** The caller of each open HTTP/2 session (its connection), gone with the session. */
  private readonly callerBySession = new WeakMap<object, string | typeof NO_CALLER>();
  private readonly prefix: string;

  private constructor(
    readonly trustDomain: string,
    readonly source: MeshSource,
    /** Files mode: the one identity this process's certificate names. */
    private readonly fileIdentity: { provider: CertificateProvider; names: readonly string[] } | undefined,
    /** Development and in-memory modes: the CA that signs certificates for any identity. */
    private readonly issuer: { ca: MeshCa; dir: string | undefined } | undefined,
  ) {
    this.prefix = `spiffe://${trustDomain}/`;
  }

  /**
   * The mesh of a process: certificate files when configured; else, in development, the CA
   * under DATA_DIR/mesh; else (`inMemoryCa`, the all-in-one) a CA made now in memory.
   */
  static async create(
    settings: MeshSettings,
    options: { allowDevelopmentCa: boolean; inMemoryCa?: boolean },
  ): Promise<Mesh> {
    const files = [settings.MESH_CERT_FILE, settings.MESH_KEY_FILE, settings.MESH_CA_FILE];
    if (files.some(Boolean)) {
      if (!files.every(Boolean))
        throw new Error("MESH_CERT_FILE, MESH_KEY_FILE and MESH_CA_FILE are set together or not at all");
      // Read once now, so a missing file or a certificate without an identity stops the start.
      const names = uriSans(readFileSync(settings.MESH_CERT_FILE!, "utf8"))
        .filter((uri) => uri.startsWith(`spiffe://${settings.MESH_TRUST_DOMAIN}/`))
        .map((uri) => uri.slice(`spiffe://${settings.MESH_TRUST_DOMAIN}/`.length));
      if (names.length === 0)
        throw new Error(`MESH_CERT_FILE names no spiffe://${settings.MESH_TRUST_DOMAIN}/ identity (a URI SAN)`);
      if (settings.MESH_IDENTITY && !names.includes(settings.MESH_IDENTITY)) {
        throw new Error(
          `MESH_CERT_FILE names ${names.join(", ")}, not MESH_IDENTITY=${settings.MESH_IDENTITY}: is the right certificate mounted?`,
        );
      }
      readFileSync(settings.MESH_KEY_FILE!);
      readFileSync(settings.MESH_CA_FILE!);
      const provider = new grpc.experimental.FileWatcherCertificateProvider({
        certificateFile: settings.MESH_CERT_FILE!,
        privateKeyFile: settings.MESH_KEY_FILE!,
        caCertificateFile: settings.MESH_CA_FILE!,
        refreshIntervalMs: settings.MESH_CERT_REFRESH_MS,
      });
      return new Mesh(settings.MESH_TRUST_DOMAIN, "files", { provider, names }, undefined);
    }
    if (options.inMemoryCa)
      return new Mesh(settings.MESH_TRUST_DOMAIN, "in-memory", undefined, {
        ca: await createMeshCa("Weelo in-process mesh CA"),
        dir: undefined,
      });
    if (!options.allowDevelopmentCa) {
      throw new Error(
        "MESH_CERT_FILE, MESH_KEY_FILE and MESH_CA_FILE must be set in production (the development mesh CA is refused)",
      );
    }
    const dir = join(settings.DATA_DIR, "mesh");
    return new Mesh(settings.MESH_TRUST_DOMAIN, "development", undefined, { ca: await loadOrCreateDevCa(dir), dir });
  }

  /** "spiffe://weelo/dispatch" for "dispatch". */
  idOf(name: string): string {
    return spiffeId(this.trustDomain, name);
  }

  /** The identities this process may present: its certificate's (files), or any (a CA that issues). */
  canActAs(name: string): boolean {
    return this.fileIdentity ? this.fileIdentity.names.includes(name) : true;
  }

  /**
   * Credentials of a mesh listener that serves the given identities (a service alone serves its
   * own; the all-in-one serves them all): clients must present a certificate from the mesh CA.
   * Resolves once the certificate is loaded: a listener bound before would drop connections.
   */
  async serverCredentials(serves: readonly string[]): Promise<grpc.ServerCredentials> {
    const missing = serves.filter((name) => !this.canActAs(name));
    if (missing.length > 0) {
      throw new Error(
        `the mesh certificate names ${this.fileIdentity!.names.join(", ")} but this process serves ${missing.join(", ")}`,
      );
    }
    const provider = this.providerFor(serves);
    await loaded(provider);
    // grpc-js's factory passes its two providers to the constructor the other way round; one provider for both is immune.
    return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
  }

  /** Credentials of a client that calls `target` as `caller`; the server must prove it is `target`. */
  channelCredentials(caller: string, target: string): grpc.ChannelCredentials {
    const key = `${caller}>${target}`;
    let credentials = this.channelCredentialsCache.get(key);
    if (!credentials) {
      if (!this.canActAs(caller)) {
        throw new Error(
          `this process's mesh certificate names ${this.fileIdentity!.names.join(", ")}; it cannot call as ${caller}`,
        );
      }
      const provider = this.providerFor([caller]);
      const expected = this.idOf(target);
      credentials = grpc.experimental.createCertificateProviderChannelCredentials(provider, provider, {
        // The server's certificate must name the service this client means to reach (no DNS names in mesh certificates).
        checkServerIdentity: (_host, certificate) =>
          sansOf(certificate.subjectaltname).includes(expected)
            ? undefined
            : new Error(
                `the server's certificate does not name ${expected} (it names ${certificate.subjectaltname ?? "nothing"})`,
              ),
      });
      this.channelCredentialsCache.set(key, credentials);
    }
    return credentials;
  }

  /**
   * The calling service named by a verified peer certificate's SPIFFE ID in this trust domain
   * (undefined: no certificate, or none or several such IDs). Read once per connection: the peer
   * certificate of a TLS session never changes (HTTP/2 forbids renegotiation), and reading it
   * (getPeerCertificate) builds a new object each time, the dearest step of a mesh call.
   */
  callerOf(call: PeerCall): string | undefined {
    const session = sessionOf(call);
    if (session) {
      const known = this.callerBySession.get(session);
      if (known !== undefined) return known === NO_CALLER ? undefined : known;
    }
    const caller = this.callerFromCertificate(call);
    if (session) this.callerBySession.set(session, caller ?? NO_CALLER);
    return caller;
  }

  private callerFromCertificate(call: PeerCall): string | undefined {
    const sans = call.getAuthContext()?.sslPeerCertificate?.subjectaltname;
    if (!sans) return undefined;
    if (this.callerBySans.has(sans)) return this.callerBySans.get(sans);
    const ids = sansOf(sans).filter((uri) => uri.startsWith(this.prefix));
    const caller = ids.length === 1 ? ids[0]!.slice(this.prefix.length) : undefined;
    if (this.callerBySans.size > 1000) this.callerBySans.clear();
    this.callerBySans.set(sans, caller);
    return caller;
  }

  /**
   * The CA and a fresh certificate for `names` (service names, or whole URIs), for tests and tools
   * that act as some service (issuing modes only).
   */
  async issue(names: readonly string[]): Promise<KeyPairPem & { caPem: string }> {
    if (!this.issuer) throw new Error("a mesh reading its certificate from files cannot issue certificates");
    const pair = await issueServiceCertificate(
      this.issuer.ca,
      names.map((name) => (name.includes("://") ? name : this.idOf(name))),
    );
    return { ...pair, caPem: this.issuer.ca.certificatePem };
  }

  private providerFor(names: readonly string[]): CertificateProvider {
    if (this.fileIdentity) return this.fileIdentity.provider;
    const key = [...names].sort().join(",");
    let provider = this.providers.get(key);
    if (!provider) {
      const { ca, dir } = this.issuer!;
      const ids = names.map((name) => this.idOf(name));
      const pair = dir
        ? loadOrIssueDevCertificate(ca, dir, key.replaceAll(",", "+"), ids)
        : issueServiceCertificate(ca, ids);
      provider = new IssuedCertificateProvider(pair.then((p) => ({ ...p, caPem: ca.certificatePem })));
      this.providers.set(key, provider);
    }
    return provider;
  }
}

/** Resolves when a provider has delivered its certificate, key and CA; fails when it could not load them. */
function loaded(provider: CertificateProvider): Promise<void> {
  return new Promise((resolve, reject) => {
    let identity = false;
    let ca = false;
    const settle = () => {
      if (!identity || !ca) return;
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
      resolve();
    };
    const onIdentity: IdentityListener = (update) => {
      if (!update) return reject(new Error("the mesh certificate or its key could not be loaded"));
      identity = true;
      settle();
    };
    const onCa: CaListener = (update) => {
      if (!update) return reject(new Error("the mesh CA certificate could not be loaded"));
      ca = true;
      settle();
    };
    provider.addIdentityCertificateListener(onIdentity);
    provider.addCaCertificateListener(onCa);
  });
}

/** A connection whose certificate names no caller (a WeakMap value cannot be undefined and mean "known"). */
const NO_CALLER: unique symbol = Symbol("no caller");

/**
 * The HTTP/2 session (one per connection) a grpc-js server call arrived on: the call's chain of
 * intercepting calls ends in grpc-js's base call, which holds the stream. These are grpc-js
 * internals (1.14); if their shape changes this finds nothing and the caller is read from the
 * certificate on every call, as before (mesh.test.ts notices).
 */
export function sessionOf(call: PeerCall): object | undefined {
  let inner: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 16 && typeof inner === "object" && inner !== null; depth++) {
    const stream = (inner as { stream?: { session?: unknown } }).stream;
    if (stream !== undefined) {
      const session = stream?.session;
      return typeof session === "object" && session !== null ? session : undefined;
    }
    inner = (inner as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/** What the mesh reads of a call: the verified peer certificate of its connection. */
export interface PeerCall {
  getAuthContext(): { sslPeerCertificate?: { subjectaltname?: string } } | null;
}

/** "URI:spiffe://weelo/a, DNS:x" → ["spiffe://weelo/a"]. */
function sansOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.startsWith("URI:"))
    .map((part) => part.slice(4));
}

/** A certificate provider for a certificate issued in this process (it becomes available when issued). */
class IssuedCertificateProvider implements CertificateProvider {
  private ca: grpc.experimental.CaCertificateUpdate | null | undefined;
  private identity: grpc.experimental.IdentityCertificateUpdate | null | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  constructor(pending: Promise<KeyPairPem & { caPem: string }>) {
    pending.then(
      (pair) => {
        this.ca = { caCertificate: Buffer.from(pair.caPem) };
        this.identity = { certificate: Buffer.from(pair.certificatePem), privateKey: Buffer.from(pair.privateKeyPem) };
        this.notify();
      },
      () => {
        this.ca = null;
        this.identity = null;
        this.notify();
      },
    );
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    if (this.ca !== undefined) queueMicrotask(() => listener(this.ca ?? null));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    if (this.identity !== undefined) queueMicrotask(() => listener(this.identity ?? null));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }

  private notify(): void {
    for (const listener of this.caListeners) listener(this.ca ?? null);
    for (const listener of this.identityListeners) listener(this.identity ?? null);
  }
}
