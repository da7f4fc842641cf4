// Per-strategy rate limiting, the same token bucket as tnm_desktop/webhook/ratelimit.py.
//
// An Edge Function keeps no state between its instances: each instance (a worker serving many
// requests while it is warm) has its own buckets. A strategy is held to `burst` at once and then
// `rate` per second by each instance; under a burst the platform may start a second instance,
// which starts with full buckets, so the limit is per instance, never shared. It protects the
// database from one runaway alert loop, which is what it is for; the platform's own limits
// apply on top.

/** Token buckets keyed by strategy: `burst` requests at once, then `rate` per second. */
export class RateLimiter {
  private readonly buckets = new Map<string, [number, number]>(); // key -> [tokens, at]

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: () => number = () => performance.now() / 1000,
    private readonly maxKeys = 10_000,
  ) {}

  /** Take a token for `key`: 0 when the request may pass, else the seconds until one is available. */
  acquire(key: string): number {
    const now = this.clock();
    const [stored, at] = this.buckets.get(key) ?? [this.burst, now];
    this.buckets.delete(key); // re-inserted last: the map's order is least recently used first
    const tokens = Math.min(this.burst, stored + (now - at) * this.rate);
    let wait = 0;
    if (tokens >= 1) {
      this.buckets.set(key, [tokens - 1, now]);
    } else {
      this.buckets.set(key, [tokens, now]);
      wait = (1 - tokens) / this.rate;
    }
    while (this.buckets.size > this.maxKeys) {
      this.buckets.delete(this.buckets.keys().next().value as string);
    }
    return wait;
  }
}
