// How long a change takes to reach an event stream: a client follows GET /api/v1/events while wrk
// records inbound movements, and each movement.recorded is timed from its createdAt (the start of
// the change's transaction, by the database's clock on this machine) to its arrival. Counted too:
// how many arrived of those wrk had answered 201, which must be all.

export interface EventLatency {
  written: number;
  delivered: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface EventFollower {
  /** Stops following, waits for what is still to come (up to `settleMs` after the last arrival), and measures. */
  finish(written: number, settleMs?: number): Promise<EventLatency>;
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function followEvents(url: string, headers: Record<string, string>): Promise<EventFollower> {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/v1/events?types=movement.recorded`, { headers, signal: controller.signal });
  if (response.status !== 200 || response.body === null) throw new Error(`GET /api/v1/events answered ${response.status}`);
  const lags: number[] = [];
  let lastArrival = Date.now();
  const reading = (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        const now = Date.now();
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(message)?.[1];
          if (data === undefined) continue;
          lags.push(now - Date.parse((JSON.parse(data) as { createdAt: string }).createdAt));
          lastArrival = now;
        }
      }
    } catch {
      // aborted by finish()
    }
  })();
  return {
    async finish(written, settleMs = 5000) {
      const deadline = Date.now() + 30_000;
      while (lags.length < written && Date.now() - lastArrival < settleMs && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      controller.abort();
      await reading;
      const sorted = [...lags].sort((a, b) => a - b);
      return { written, delivered: lags.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? 0 };
    },
  };
}
