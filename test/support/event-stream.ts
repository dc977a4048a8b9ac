import { setTimeout as sleep } from 'node:timers/promises';

// A client of GET /api/v1/events over real HTTP, as EventSource reads it (the WHATWG parsing
// rules, for the fields Stockroom sends): it collects every message and comment, and lets a test
// wait for what it expects.

export interface StreamMessage {
  id: string | undefined;
  event: string;
  data: any;
}

export interface EventStreamClient {
  status: number;
  headers: Headers;
  messages: StreamMessage[];
  comments: string[];
  /** Resolves when the server ends the stream (or the client closes it). */
  ended: Promise<void>;
  isEnded(): boolean;
  /** Waits until `count` messages (other than reset) have arrived, or fails after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<StreamMessage[]>;
  /** Waits until `predicate` holds for what has arrived, or fails after `timeoutMs`. */
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): void;
}

export async function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStreamClient> {
  const controller = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const messages: StreamMessage[] = [];
  const comments: string[] = [];
  let ended = false;
  const read = (async () => {
    if (response.body === null) return;
    const decoder = new TextDecoder();
    let buffer = '';
    let message: Partial<StreamMessage> & { dataLines: string[] } = { dataLines: [] };
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            if (message.dataLines.length > 0) {
              messages.push({ id: message.id, event: message.event ?? 'message', data: JSON.parse(message.dataLines.join('\n')) });
            }
            message = { dataLines: [] };
          } else if (line.startsWith(':')) {
            comments.push(line.slice(1).trim());
          } else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') message.dataLines.push(value);
            else if (field === 'id') message.id = value;
            else if (field === 'event') message.event = value;
          }
        }
      }
    } catch {
      // aborted by close(), or the connection was cut: the stream has ended either way
    } finally {
      ended = true;
    }
  })();

  const until = async (predicate: () => boolean, what: string, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages.slice(-5))}`);
      if (ended && !predicate()) throw new Error(`the stream ended while waiting for ${what}; got ${JSON.stringify(messages.slice(-5))}`);
      await sleep(10);
    }
  };
  const events = () => messages.filter((message) => message.event !== 'reset');
  return {
    status: response.status,
    headers: response.headers,
    messages,
    comments,
    ended: read,
    isEnded: () => ended,
    async waitFor(count, timeoutMs) {
      await until(() => events().length >= count, `${count} events`, timeoutMs);
      return events();
    },
    until,
    close: () => controller.abort(),
  };
}
