/**
 * Signing keys. Production reads an Ed25519 private key (identity only) and a JWKS of public
 * keys (every verifier; several keys allow rotation). Development generates one key pair
 * under DATA_DIR once, so tokens survive a restart and processes sharing DATA_DIR agree.
 */
import type { webcrypto } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import * as jose from "jose";
import { writeFileOnce } from "./write-once.js";

export const JWT_ALGORITHM = "EdDSA";

export interface KeyMaterial {
  /** Key id of the signing key, in every token header. */
  readonly keyId: string;
  /** Present only where tokens are issued (identity). */
  readonly privateKey?: webcrypto.CryptoKey;
  /** Public keys that verify tokens, as a JWKS (served by the gateway at /.well-known/jwks.json). */
  readonly jwks: jose.JSONWebKeySet;
}

export interface KeySettings {
  /** PKCS#8 PEM of the Ed25519 private key (identity only). */
  JWT_PRIVATE_KEY?: string | undefined;
  /** Key id of JWT_PRIVATE_KEY. */
  JWT_KEY_ID?: string | undefined;
  /** JSON Web Key Set of the public keys tokens may be signed with. */
  JWT_PUBLIC_JWKS?: string | undefined;
  DATA_DIR: string;
  NODE_ENV: string;
}

interface DevKeyFile {
  keyId: string;
  privateKeyPem: string;
  publicJwk: jose.JWK;
}

/** Loads configured keys, or in development the generated pair under DATA_DIR. */
export async function loadKeyMaterial(settings: KeySettings): Promise<KeyMaterial> {
  if (settings.JWT_PUBLIC_JWKS) {
    const jwks = JSON.parse(settings.JWT_PUBLIC_JWKS) as jose.JSONWebKeySet;
    if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error("JWT_PUBLIC_JWKS has no keys");
    const keyId = settings.JWT_KEY_ID ?? jwks.keys[0]?.kid ?? "";
    const privateKey = settings.JWT_PRIVATE_KEY
      ? await jose.importPKCS8(settings.JWT_PRIVATE_KEY.replace(/\\n/g, "\n"), JWT_ALGORITHM)
      : undefined;
    return privateKey ? { keyId, privateKey, jwks } : { keyId, jwks };
  }
  if (settings.NODE_ENV === "production") {
    throw new Error("JWT_PUBLIC_JWKS (and JWT_PRIVATE_KEY for identity) must be set in production");
  }
  const file = await loadOrCreateDevKeys(join(settings.DATA_DIR, "keys"));
  return {
    keyId: file.keyId,
    privateKey: await jose.importPKCS8(file.privateKeyPem, JWT_ALGORITHM),
    jwks: { keys: [file.publicJwk] },
  };
}

/**
 * Several processes may start at once on one DATA_DIR: the first to link its file into place
 * wins (writeFileOnce: never seen half-written), and the others read the winner's.
 */
async function loadOrCreateDevKeys(dir: string): Promise<DevKeyFile> {
  const path = join(dir, "jwt-dev-key.json");
  const existing = await readDevKeys(path);
  if (existing) return existing;
  await mkdir(dir, { recursive: true });
  const pair = await generateKeyPair();
  if (await writeFileOnce(path, JSON.stringify(pair))) return pair;
  return (await readDevKeys(path))!;
}

async function readDevKeys(path: string): Promise<DevKeyFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as DevKeyFile;
  } catch {
    throw new Error(`the development signing key ${path} is not valid JSON: delete it, and a new one is made at start`);
  }
}

/** A fresh Ed25519 pair: used for development keys and by the key-generation script. */
export async function generateKeyPair(): Promise<DevKeyFile> {
  const { privateKey, publicKey } = await jose.generateKeyPair(JWT_ALGORITHM, { extractable: true });
  const keyId = `k-${Date.now().toString(36)}`;
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid: keyId, alg: JWT_ALGORITHM, use: "sig" };
  return { keyId, privateKeyPem: await jose.exportPKCS8(privateKey), publicJwk };
}
