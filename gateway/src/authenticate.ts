/**
 * The gateway's check of the caller: a valid access token for every method that is not
 * public. Services check again (authorization lives in the owning service); this stops bad
 * calls before they cost an upstream hop. Used by the Connect interceptor and the REST aliases.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { bearerToken, type Principal, type TokenVerifier } from "@weelo/auth";
import { DomainError } from "@weelo/errors";

export async function authenticate(
  verifier: TokenVerifier,
  authorization: string | null,
  isPublic: boolean,
): Promise<Principal | undefined> {
  if (isPublic) return undefined;
  const token = bearerToken(authorization);
  if (!token) {
    throw new ConnectError(
      authorization ? 'the authorization header must be "Bearer <access token>"' : "a valid access token is required",
      Code.Unauthenticated,
    );
  }
  try {
    // Signature and expiry only: the owning service checks revocation on the same call, so a
    // second cache lookup here would add a round trip per request and protect nothing more.
    return await verifier.verifyAccessToken(token, { checkRevocation: false });
  } catch (error) {
    if (error instanceof DomainError) throw new ConnectError(error.message, Code.Unauthenticated);
    throw error;
  }
}
