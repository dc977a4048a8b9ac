import type { ServerResponse } from 'node:http';
import type { EventSink } from '../services/event-feed.ts';

// A server-sent-events response as the event feed's sink (src/services/event-feed.ts). What waits
// to be sent is bounded: a client that lets more than `bufferBytes` pile up (it reads too slowly,
// or not at all) is disconnected, and can resume from the last id it received; the feed's
// catch-up waits for `drained` between pages, so only a live stream's bursts count against it.

/** A response as the feed's sink: a write past `bufferBytes` waiting to be sent drops the client. */
export function responseSink(response: ServerResponse, bufferBytes: number): EventSink {
  const ended = () => response.writableEnded || response.destroyed;
  return {
    write(text) {
      if (ended()) return false;
      response.write(text);
      if (response.writableLength <= bufferBytes) return true;
      response.destroy();
      return false;
    },
    drained() {
      // 'drain' comes only after a write that passed the high-water mark; below it, nothing waits.
      if (ended() || !response.writableNeedDrain) return Promise.resolve();
      return new Promise((resolve) => {
        const done = () => {
          response.off('drain', done);
          response.off('close', done);
          resolve();
        };
        response.once('drain', done);
        response.once('close', done);
      });
    },
    end() {
      if (!ended()) response.end();
    },
    get ended() {
      return ended();
    },
  };
}
