/**
 * The gateway's check of the caller: a valid access token for every method that is not
 * public. Services check again (authorization lives in the owning service); this stops bad
 * calls before they cost an upstream hop. Used by the Connect interceptor and the REST aliases.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { bearerToken, type Principal, type TokenVerifier } from "@weelo/auth";
import { DomainError } from "@weelo/errors";

/**
 * A request's bearer token, verified at most once however many steps ask: the REST admission
 * keys its per-user budget by the caller, then the alias refuses a bad token with 401.
 */
export class RequestCredentials {
  private verified: Promise<Principal> | undefined;

  constructor(
    private readonly verifier: TokenVerifier,
    readonly authorization: string | null,
  ) {}

  /** The caller of a "Bearer <token>" header (rejects as the verifier does), or undefined without one. */
  principal(): Promise<Principal> | undefined {
    const token = bearerToken(this.authorization);
    if (!token) return undefined;
    // Signature and expiry only: the owning service checks revocation on the same call, so a
    // second cache lookup here would add a round trip per request and protect nothing more.
    this.verified ??= this.verifier.verifyAccessToken(token, { checkRevocation: false });
    return this.verified;
  }

  /** The caller's user id when the token is valid; undefined for none or a bad one (refused later, by authenticate). */
  async userIdIfValid(): Promise<string | undefined> {
    return this.principal()?.then(
      (principal) => principal.userId,
      () => undefined,
    );
  }
}

export async function authenticate(credentials: RequestCredentials, isPublic: boolean): Promise<Principal | undefined> {
  if (isPublic) return undefined;
  const verifying = credentials.principal();
  if (!verifying) {
    throw new ConnectError(
      credentials.authorization
        ? 'the authorization header must be "Bearer <access token>"'
        : "a valid access token is required",
      Code.Unauthenticated,
    );
  }
  try {
    return await verifying;
  } catch (error) {
    if (error instanceof DomainError) throw new ConnectError(error.message, Code.Unauthenticated);
    throw error;
  }
}
