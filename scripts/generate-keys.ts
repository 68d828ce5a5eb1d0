/**
 * Prints a fresh Ed25519 key pair as the production settings want it:
 * JWT_PRIVATE_KEY and JWT_KEY_ID for identity, JWT_PUBLIC_JWKS for every process.
 * To rotate, append the new public key to the JWKS, deploy, then switch identity's private key.
 */
import { generateKeyPair } from "@weelo/auth";

const pair = await generateKeyPair();
console.log(`JWT_KEY_ID=${pair.keyId}`);
console.log(`JWT_PUBLIC_JWKS=${JSON.stringify({ keys: [pair.publicJwk] })}`);
console.log(`JWT_PRIVATE_KEY="${pair.privateKeyPem.trim().replace(/\n/g, "\\n")}"`);
