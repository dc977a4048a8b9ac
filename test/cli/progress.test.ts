import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createProgress, formatDuration } from '../../src/cli/progress.ts';

/** A stream that keeps what is written, and a clock the test moves. */
function setting(isTTY: boolean) {
  const written: string[] = [];
  let now = 0;
  return {
    out: { isTTY, columns: 100, write: (text: string) => written.push(text) },
    written,
    clock: { now: () => now, advance: (ms: number) => (now += ms) },
  };
}

describe('progress', () => {
  it('on a terminal, redraws one line with a bar, the count, the rate and the time left, at most every 100 ms', () => {
    const { out, written, clock } = setting(true);
    const progress = createProgress(out, { doing: 'importing', done: 'imported', unit: 'lines', now: clock.now });
    clock.advance(50);
    progress.update(10, 0.05);
    assert.deepEqual(written, [], 'not before 100 ms');
    clock.advance(950);
    progress.update(2500, 0.25);
    assert.equal(written.length, 1);
    assert.equal(written[0], '\r\x1b[2Kimporting [######------------------]  25% 2,500 lines, 2,500 lines/s, 3 s left');
    clock.advance(3000);
    progress.update(10_000, 1);
    progress.finish();
    assert.equal(written.at(-2), '\r\x1b[2K', 'the redrawn line is cleared');
    assert.equal(written.at(-1), 'imported 10,000 lines in 4.0 s (2,500 lines/s)\n');
  });

  it('elsewhere, writes a plain line every interval, and none of the terminal codes', () => {
    const { out, written, clock } = setting(false);
    const progress = createProgress(out, { doing: 'exporting', done: 'exported', unit: 'rows', plainIntervalMs: 2000, now: clock.now });
    for (let second = 1; second <= 5; second += 1) {
      clock.advance(1000);
      progress.update(second * 1000);
    }
    progress.finish();
    assert.deepEqual(written, [
      'exporting: 2,000 rows, 1,000 rows/s\n',
      'exporting: 4,000 rows, 1,000 rows/s\n',
      'exported 5,000 rows in 5.0 s (1,000 rows/s)\n',
    ]);
  });

  it('says how long in seconds, minutes or hours', () => {
    assert.deepEqual([formatDuration(4.4), formatDuration(75), formatDuration(3 * 3600 + 5 * 60)], ['4 s', '1 min 15 s', '3 h 05 min']);
  });
});
