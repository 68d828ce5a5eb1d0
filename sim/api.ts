/**
 * The public interfaces the simulated apps use, and nothing else: each simulated user is an
 * app with its own @weelo/client (its session, its token refresh, its connections): Connect
 * HTTP/JSON through the gateway for unary calls and server streams, and Connect over HTTP/2
 * for the driver's bidirectional StreamLocation. Unary calls that fail for a transient reason
 * (the system restarting, a limit answering 429/503) are retried here with backoff, so every
 * retry and failure is counted; the SDK renews tokens and resumes streams.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type WeeloClient,
  backoffMs,
  createNodeWeeloClient,
  describeError,
  errorFacts,
  isTransient,
  type RoleName,
} from "@weelo/client/node";
import { Role } from "@weelo/contracts/es/weelo/common/v1/common_pb";

export { codeOf, isTransient, isUnauthenticated, reasonOf, type RoleName } from "@weelo/client/node";

/** "Unavailable", or "FailedPrecondition ALREADY_TAKEN" when a reason says more than the code. */
export const describe = describeError;

/** One unary call as the app saw it: when it began and ended, how many attempts, and how it ended. */
export interface CallEvent {
  startedAt: number;
  endedAt: number;
  attempts: number;
  /** ok: answered; failed: a transient failure outlasted the retries; refused: a final answer that is not a success. */
  outcome: "ok" | "failed" | "refused";
}

/** Failures of the run by method and code ("CreateBooking unavailable"), and the expected refusals apart. */
export class CallLog {
  readonly errors = new Map<string, number>();
  readonly refusals = new Map<string, number>();
  /** Every unary call in the order they ended (the fault figures cut windows out of it). */
  readonly calls: CallEvent[] = [];
  /** When each retried attempt failed (a transient failure), in order. */
  readonly retryTimes: number[] = [];
  retries = 0;
  refreshes = 0;

  error(what: string, code: string): void {
    const key = `${what} ${code}`;
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1);
  }

  refusal(what: string, reason: string): void {
    const key = `${what} ${reason}`;
    this.refusals.set(key, (this.refusals.get(key) ?? 0) + 1);
  }

  get errorCount(): number {
    let total = 0;
    for (const n of this.errors.values()) total += n;
    return total;
  }
}

/** A logged-in user: the app's client (its session renews the token by itself) and the user's id. */
export interface Session {
  client: WeeloClient;
  userId: string;
}

export interface GatewayOptions {
  /** Base URL of the gateway, e.g. http://127.0.0.1:3000. */
  url: string;
  /** How long a transient failure is retried before the call gives up, ms. */
  retryForMs: number;
  /** Deadline of one unary attempt, ms. */
  timeoutMs: number;
  log: CallLog;
}

const ROLES: Record<RoleName, Role> = {
  customer: Role.CUSTOMER,
  transporter: Role.TRANSPORTER,
  driver: Role.DRIVER,
  ops: Role.OPS,
};

/** Where the simulated apps connect, and the run's retry rule for unary calls. */
export class Gateway {
  constructor(readonly options: GatewayOptions) {}

  get log(): CallLog {
    return this.options.log;
  }

  /** A new app: its own client and session (the run retries itself, so the SDK's retries are off). */
  app(): WeeloClient {
    return createNodeWeeloClient({
      baseUrl: this.options.url,
      retry: false,
      onRefresh: () => {
        this.log.refreshes += 1;
      },
    });
  }

  /**
   * One unary call with retries of transient failures (jittered backoff from 100 ms doubling to 2 s,
   * for at most retryForMs); what is not transient is thrown at once for the caller to judge.
   */
  async call<T>(what: string, fn: (options: { timeoutMs: number }) => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    const deadline = startedAt + this.options.retryForMs;
    for (let attempts = 1; ; attempts++) {
      // Jittered (from half the wait to all of it): the apps that failed together come back apart.
      const wait = backoffMs(attempts - 1, 100, 2000);
      try {
        const answer = await fn({ timeoutMs: this.options.timeoutMs });
        this.log.calls.push({ startedAt, endedAt: Date.now(), attempts, outcome: "ok" });
        return answer;
      } catch (error) {
        if (!isTransient(error) || Date.now() + wait > deadline) {
          const outcome = isTransient(error) ? "failed" : "refused";
          this.log.calls.push({ startedAt, endedAt: Date.now(), attempts, outcome });
          if (isTransient(error)) this.log.error(what, describeError(error));
          throw error;
        }
        this.log.retries += 1;
        this.log.retryTimes.push(Date.now());
        const hinted = (errorFacts(error).retryAfterSeconds ?? 0) * 1000;
        await sleep(Math.max(wait, Math.min(hinted, 5000)));
      }
    }
  }

  /** Logs a phone in by OTP on a new app (development: the code comes back as devOtp). */
  async login(role: RoleName, phone: string): Promise<Session> {
    const client = this.app();
    const sent = await this.call("SendOtp", (o) => client.auth.sendOtp({ phone, role: ROLES[role] }, o));
    if (!sent.devOtp)
      throw new Error(
        "SendOtp returned no devOtp: the simulator needs the system's console SMS provider (development mode)",
      );
    const verified = await this.call("VerifyOtp", (o) =>
      client.auth.verifyOtp({ phone, otp: sent.devOtp, role: ROLES[role] }, o),
    );
    if (!verified.tokens?.accessToken || !verified.user) throw new Error(`VerifyOtp for ${phone} returned no token`);
    await client.session.begin({
      accessToken: verified.tokens.accessToken,
      refreshToken: verified.tokens.refreshToken,
      userId: verified.user.id,
    });
    return { client, userId: verified.user.id };
  }
}
