/**
 * Certificates of the service mesh. Every process proves which service it is with an X.509
 * certificate whose URI SAN is a SPIFFE ID (spiffe://weelo/dispatch). Production reads them
 * from files (cert-manager renews them); development makes its own: a CA under DATA_DIR/mesh
 * on first start, as it does for the token keys, and a certificate per service signed by it.
 */
// @peculiar/x509 resolves its ASN.1 providers through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { writeFileOnce } from "@weelo/auth";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 24 * 3600 * 1000;

/** A certificate and its private key, PEM. */
export interface KeyPairPem {
  certificatePem: string;
  privateKeyPem: string;
}

/** A CA that can sign service certificates (development and the all-in-one only). */
export interface MeshCa extends KeyPairPem {
  readonly signingKey: CryptoKey;
  readonly certificate: x509.X509Certificate;
}

/** "spiffe://weelo/dispatch" for service "dispatch" in trust domain "weelo". */
export function spiffeId(trustDomain: string, service: string): string {
  return `spiffe://${trustDomain}/${service}`;
}

/** A new CA kept in memory (the all-in-one's internal plane never leaves the process's loopback). */
export async function createMeshCa(commonName = "Weelo development mesh CA", validDays = 3650): Promise<MeshCa> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certificate,
    signingKey: keys.privateKey,
    certificatePem: certificate.toString("pem"),
    privateKeyPem: await pkcs8Pem(keys.privateKey),
  };
}

/** A certificate for one or more SPIFFE IDs (the all-in-one's server names every service it hosts), signed by the CA. */
export async function issueServiceCertificate(
  ca: MeshCa,
  ids: readonly string[],
  validDays = 365,
): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${ids[0]?.split("/").pop() ?? "weelo"}`,
    issuer: ca.certificate.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * DAY_MS),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension(
        ids.map((id) => ({ type: "url" as const, value: id })),
        true,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate),
    ],
  });
  return { certificatePem: certificate.toString("pem"), privateKeyPem: await pkcs8Pem(keys.privateKey) };
}

/**
 * The development CA under `dir` (ca.crt, ca.key), made on first start. Several processes may
 * start at once on one DATA_DIR (docker compose): each writes a complete file aside and links it
 * into place, which fails for all but the first; the others read the winner's.
 */
export async function loadOrCreateDevCa(dir: string): Promise<MeshCa> {
  const certPath = join(dir, "ca.crt");
  const keyPath = join(dir, "ca.key");
  const existing = await readPair(certPath, keyPath);
  if (existing) return caFromPem(existing);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const made = await createMeshCa();
  // The key first: a reader that finds ca.crt always finds its key.
  const keyWon = await writeFileOnce(keyPath, made.privateKeyPem);
  if (keyWon) {
    await writeFileOnce(certPath, made.certificatePem);
    return made;
  }
  for (let attempt = 0; attempt < 50; attempt++) {
    const theirs = await readPair(certPath, keyPath);
    if (theirs) return caFromPem(theirs);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `the development mesh CA under ${dir} is incomplete (ca.key without ca.crt): remove the folder to make a new one`,
  );
}

/** A development service certificate under `dir` (<name>.crt, <name>.key), made on first use and kept. */
export async function loadOrIssueDevCertificate(
  ca: MeshCa,
  dir: string,
  name: string,
  ids: readonly string[],
): Promise<KeyPairPem> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  const existing = await readPair(certPath, keyPath);
  if (existing && stillGood(existing.certificatePem, ca, ids)) return existing;
  const issued = await issueServiceCertificate(ca, ids);
  // Last writer wins: any of the racing certificates is valid, and each process keeps the one it made.
  await writeFile(keyPath, issued.privateKeyPem, { mode: 0o600 });
  await writeFile(certPath, issued.certificatePem, { mode: 0o644 });
  return issued;
}

/** The URI SANs of a PEM certificate. */
export function uriSans(certificatePem: string): string[] {
  const certificate = new x509.X509Certificate(certificatePem);
  const san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  return san?.names.items.filter((name) => name.type === "url").map((name) => name.value) ?? [];
}

function stillGood(certificatePem: string, ca: MeshCa, ids: readonly string[]): boolean {
  try {
    const certificate = new x509.X509Certificate(certificatePem);
    const sans = uriSans(certificatePem);
    return (
      certificate.issuer === ca.certificate.subject &&
      certificate.notAfter.getTime() > Date.now() + 7 * DAY_MS &&
      ids.every((id) => sans.includes(id)) &&
      sans.length === ids.length
    );
  } catch {
    return false;
  }
}

async function caFromPem(pair: KeyPairPem): Promise<MeshCa> {
  const certificate = new x509.X509Certificate(pair.certificatePem);
  const der = Buffer.from(pair.privateKeyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  const signingKey = (await webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"])) as CryptoKey;
  return { ...pair, certificate, signingKey };
}

async function readPair(certPath: string, keyPath: string): Promise<KeyPairPem | undefined> {
  try {
    const [certificatePem, privateKeyPem] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    return certificatePem.includes("END CERTIFICATE") && privateKeyPem.includes("END PRIVATE KEY")
      ? { certificatePem, privateKeyPem }
      : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const body = der
    .toString("base64")
    .match(/.{1,64}/g)!
    .join("\n");
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0]! &= 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}
