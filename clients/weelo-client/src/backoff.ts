/**
 * The wait before a reconnect: exponential in the attempt, capped, with "equal jitter" (half of
 * the wait fixed, the other half random). After a restart every app's stream breaks at once; a
 * fixed schedule would bring them all back in the same instant, this one spreads them over half
 * of each wait while still growing with the outage.
 */
export function backoffMs(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(initialMs * 2 ** Math.max(0, attempt), maxMs);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
