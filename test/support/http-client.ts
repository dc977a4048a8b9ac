import assert from 'node:assert/strict';

// Requests over real HTTP (fetch) to a listening app, for the tests that race many at once.

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

/** POST and GET to the app at `base`, as the holder of `auth` (an Authorization header). */
export function httpClient(base: string, auth: Record<string, string>) {
  return {
    /** Posts `payload` as JSON (no body when undefined) and answers whatever comes back. */
    post: async (path: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
      const response = await fetch(`${base}${path}`, {
        method: 'POST',
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...auth, ...headers },
        ...(payload === undefined ? {} : { body: JSON.stringify(payload) }),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, body: text === '' ? undefined : JSON.parse(text) };
    },
    /** The JSON of a GET that must answer 200. */
    get: async (path: string): Promise<any> => {
      const response = await fetch(`${base}${path}`, { headers: auth });
      assert.equal(response.status, 200, `GET ${path}`);
      return response.json();
    },
  };
}

export type HttpClient = ReturnType<typeof httpClient>;

/** Starts every request at once and waits for all of them. */
export function inParallel<T>(count: number, request: (index: number) => Promise<T>): Promise<T[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => request(index)));
}

export function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

/** A success as its status alone, a refusal with its problem code: what races are counted by. */
export const statusAndCode = (answer: Answer) => (answer.status < 300 ? String(answer.status) : `${answer.status} ${answer.body?.code}`);
