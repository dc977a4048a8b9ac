import type { Database } from '../db/database.ts';
import * as events from '../db/events.ts';
import { eventMessage, matches, type EventFilter, type PublishedEvent } from '../domain/events.ts';
import { Wake } from '../jobs/wake.ts';

// One instance's view of the event log (API.md, Events). Writers tell it when they have committed
// events (`written`), which wakes the publisher job at once (src/jobs/event-publisher.ts); the
// publisher, on this instance or another (through NOTIFY), tells it when events are published
// (`published`), which makes it read them once and hand them to every stream that is caught up,
// and wakes the webhook sender. A stream that starts behind (resuming from Last-Event-ID) reads
// its own way up to where the feed is, then is handed events with the rest. The events table is
// the truth: a missed wake-up only delays (the publisher polls, and NOTIFY's gaps are reported as
// wake-ups), and every stream keeps the id it has sent up to, so nothing is skipped or repeated.

/** Events read at once: by the feed for every stream, and by a stream catching up. */
const FEED_PAGE = 1000;
const CATCH_UP_PAGE = 200;
/** After a failed read (the database out of reach), the feed tries again after this. */
const READ_RETRY_MS = 1000;

/** Where a stream's messages go: an HTTP response, in production (src/http/routes/events.ts). */
export interface EventSink {
  /** Queues `text` for the client; false when more is waiting than the sink allows (the stream is then ended). */
  write(text: string): boolean;
  /** Resolves once what was written has been handed to the network, or the sink has ended. */
  drained(): Promise<void>;
  end(): void;
  readonly ended: boolean;
}

export interface FeedLog {
  warn(details: object, message: string): void;
}

class Stream {
  /** Set once the stream is caught up: from then on the feed hands it events. */
  live = false;

  constructor(
    readonly filter: EventFilter,
    /** The last id this stream has passed: sent, or skipped as not its concern. */
    public position: bigint,
    readonly sink: EventSink,
  ) {}

  /** Sends the events after its position that concern it, and moves past the whole page. */
  send(page: readonly PublishedEvent[], through: bigint): void {
    for (const event of page) {
      const id = BigInt(event.id);
      if (id <= this.position) continue;
      if (matches(this.filter, event) && !this.sink.write(eventMessage(event))) {
        this.sink.end(); // too slow to keep up: it can resume from the last id it received
        return;
      }
    }
    if (through > this.position) this.position = through;
  }
}

export interface StreamStart {
  /** The id the stream starts after. */
  after: bigint;
  /** Whether what it asked to resume from is no longer retained (or never was): it gets `event: reset`. */
  reset: boolean;
}

export class EventFeed {
  /** Wakes the publisher job; set by `written`. */
  readonly publisherWake = new Wake();
  readonly #streams = new Set<Stream>();
  readonly #publishedListeners = new Set<() => void>();
  /** The last id the feed has read and handed to its live streams; undefined while it has no stream. */
  #position: bigint | undefined;
  #reading = false;
  #readAgain = false;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly db: Database,
    private readonly log: FeedLog,
  ) {}

  /** A transaction that wrote events has committed on this instance. */
  written(): void {
    this.publisherWake.set();
  }

  /**
   * Events were published, here or on another instance, up to `lastId` (or notifications may
   * have been missed: then it is not given). On PostgreSQL this instance's own publications are
   * told twice, in-process at once and by their NOTIFY a moment later: the second asks for
   * nothing the feed has not read.
   */
  published(lastId?: string): void {
    for (const listener of this.#publishedListeners) listener();
    if (lastId !== undefined && !this.#reading && this.#position !== undefined && BigInt(lastId) <= this.#position) return;
    void this.#read();
  }

  /** Calls `listener` whenever events are published; answers the function that stops it. */
  onPublished(listener: () => void): () => void {
    this.#publishedListeners.add(listener);
    return () => this.#publishedListeners.delete(listener);
  }

  /**
   * Where a stream starts: after the last published event (only what happens from now on), or
   * after `lastEventId` when that is still retained — the retained ids run without a gap from the
   * oldest to the last, so any id from just before the oldest on can be resumed from. An id older
   * than that, or newer than the last (another database's), is reset to the last.
   */
  async start(lastEventId: string | undefined, signal?: AbortSignal): Promise<StreamStart> {
    const bounds = await this.db.connection((db) => events.eventBounds(db), { signal });
    const last = BigInt(bounds.lastId);
    if (lastEventId === undefined) return { after: last, reset: false };
    const resumeFrom = BigInt(lastEventId);
    const oldestResumable = bounds.oldestId === null ? last : BigInt(bounds.oldestId) - 1n;
    if (resumeFrom > last || resumeFrom < oldestResumable) return { after: last, reset: true };
    return { after: resumeFrom, reset: false };
  }

  /**
   * Follows the log for `sink` from `after`: catches up by its own reads, then is handed events
   * as they are published, until the sink ends (the client left, was too slow, or the feed closed).
   * Resolves once it is caught up; rejects if a read fails while catching up (the sink is ended).
   */
  async follow(filter: EventFilter, after: bigint, sink: EventSink): Promise<void> {
    if (this.#closed) {
      sink.end();
      return;
    }
    const stream = new Stream(filter, after, sink);
    this.#streams.add(stream);
    this.#position ??= after;
    try {
      await this.#catchUp(stream);
      // What was published while no stream was here was not read: read from here now.
      void this.#read();
    } catch (error) {
      sink.end();
      throw error;
    } finally {
      if (sink.ended) this.#streams.delete(stream);
    }
  }

  /** Stops following for an ended sink. */
  unfollow(sink: EventSink): void {
    for (const stream of this.#streams) if (stream.sink === sink) this.#streams.delete(stream);
    if (this.#streams.size === 0) this.#position = undefined;
  }

  /** How many streams this instance serves. */
  get streams(): number {
    return this.#streams.size;
  }

  /** Ends every stream and follows no more (shutdown: an open stream would hold the drain to its deadline). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retry);
    for (const stream of this.#streams) stream.sink.end();
    this.#streams.clear();
    this.#position = undefined;
  }

  // Reads its own way from its position up to the feed's, a page at a time, waiting for the
  // client to take each page; it is live the moment its position reaches the feed's, which
  // happens between two awaits, so the feed's next page starts at or before it.
  async #catchUp(stream: Stream): Promise<void> {
    for (;;) {
      if (stream.sink.ended) return;
      const target = this.#position;
      if (target === undefined || stream.position >= target) {
        stream.live = true;
        return;
      }
      const page = await this.db.connection((db) =>
        events.readEvents(db, { after: stream.position.toString(), upTo: target.toString(), filter: stream.filter, limit: CATCH_UP_PAGE }),
      );
      if (stream.sink.ended) return;
      stream.send(page, page.length < CATCH_UP_PAGE ? target : BigInt(page.at(-1)!.id));
      await stream.sink.drained();
    }
  }

  // One reader at a time; a wake-up while it reads makes it read again after.
  async #read(): Promise<void> {
    if (this.#reading) {
      this.#readAgain = true;
      return;
    }
    this.#reading = true;
    try {
      do {
        this.#readAgain = false;
        await this.#readToEnd();
      } while (this.#readAgain);
    } catch (error) {
      this.log.warn({ err: error }, 'reading published events failed; the event feed will try again');
      clearTimeout(this.#retry);
      if (!this.#closed) {
        this.#retry = setTimeout(() => void this.#read(), READ_RETRY_MS);
        this.#retry.unref();
      }
    } finally {
      this.#reading = false;
    }
  }

  async #readToEnd(): Promise<void> {
    for (;;) {
      const from = this.#position;
      if (from === undefined || this.#streams.size === 0) return;
      const page = await this.db.connection((db) => events.readEvents(db, { after: from.toString(), limit: FEED_PAGE }));
      // While it read, the last stream may have left (and another started the feed afresh).
      if (this.#position !== from) continue;
      if (page.length === 0) return;
      const through = BigInt(page.at(-1)!.id);
      for (const stream of this.#streams) {
        if (!stream.live) continue;
        stream.send(page, through);
        if (stream.sink.ended) this.#streams.delete(stream);
      }
      this.#position = through;
      if (page.length < FEED_PAGE) return;
    }
  }
}
