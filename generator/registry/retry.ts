// Bounded retries with exponential backoff, for registry calls that failed in a way that may pass:
// 429 Too Many Requests, 5xx, a dropped connection, a timeout. Everything else fails at once.

export interface RetryPolicy {
  /** Total attempts, the first one included (1 = no retry). */
  attempts: number;
  /** Wait before the second attempt; doubled each time up to maxDelayMs. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, initialDelayMs: 1000, maxDelayMs: 8000 };

export function retryPolicy(over: Partial<RetryPolicy> | undefined): RetryPolicy {
  const p = { ...DEFAULT_RETRY, ...over };
  return {
    attempts: Math.max(1, Math.floor(p.attempts)),
    initialDelayMs: Math.max(0, p.initialDelayMs),
    maxDelayMs: Math.max(0, p.maxDelayMs),
  };
}

/** The wait after failed attempt `attempt` (1-based). */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
}

/** setTimeout as a promise that rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
