// The progress of a long command (an import, an export) on stderr. On a terminal: one line
// redrawn in place, at most ten times a second, with a bar when the total is known, the count,
// the rate and the time left. Anywhere else (a log file, CI): a plain line every few seconds,
// because a log full of carriage returns is unreadable. Either way a last line says what was done.

export interface ProgressOutput {
  write(text: string): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface ProgressOptions {
  /** What is being done, in the present ("importing") and once done ("imported"). */
  doing: string;
  done: string;
  /** What is counted, in the plural ("lines", "rows"). */
  unit: string;
  /** Milliseconds between plain lines; a terminal is redrawn every 100 ms. */
  plainIntervalMs?: number;
  now?: () => number;
}

export interface Progress {
  /** `count` units are done; `fraction` (0..1) of the whole, when the whole is known (bytes read of a file's size). */
  update(count: number, fraction?: number): void;
  /** Clears the line being redrawn and writes the summary. */
  finish(): void;
}

const TTY_INTERVAL_MS = 100;
const BAR_WIDTH = 24;

const thousands = (n: number) => Math.round(n).toLocaleString('en-US');

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export function createProgress(out: ProgressOutput, options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const tty = out.isTTY === true;
  const interval = tty ? TTY_INTERVAL_MS : (options.plainIntervalMs ?? 5000);
  const started = now();
  let shownAt = started;
  let count = 0;
  let fraction: number | undefined;
  let drawn = false;

  const rate = (at: number) => {
    const seconds = (at - started) / 1000;
    return seconds > 0 ? count / seconds : 0;
  };
  // The time left from the share of the whole done so far: bytes are a better clock than lines
  // when lines differ in length, and they are what is known of a file in advance.
  const left = (at: number) => {
    if (fraction === undefined || fraction <= 0) return undefined;
    const elapsed = (at - started) / 1000;
    return (elapsed / fraction) * (1 - fraction);
  };

  function describe(at: number): string {
    const parts = [`${thousands(count)} ${options.unit}`, `${thousands(rate(at))} ${options.unit}/s`];
    const eta = left(at);
    if (eta !== undefined) parts.push(`${formatDuration(eta)} left`);
    return parts.join(', ');
  }

  function draw(at: number) {
    if (tty) {
      const percent = fraction === undefined ? '' : `${String(Math.floor(fraction * 100)).padStart(3)}% `;
      const bar = fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '-')}] `;
      const line = `${options.doing} ${bar}${percent}${describe(at)}`;
      out.write(`\r\x1b[2K${line.slice(0, Math.max(20, (out.columns ?? 80) - 1))}`);
      drawn = true;
    } else {
      const percent = fraction === undefined ? '' : ` (${Math.floor(fraction * 100)}%)`;
      out.write(`${options.doing}: ${describe(at)}${percent}\n`);
    }
  }

  return {
    update(done, share) {
      count = done;
      if (share !== undefined) fraction = Math.min(1, Math.max(0, share));
      const at = now();
      if (at - shownAt < interval) return;
      shownAt = at;
      draw(at);
    },
    finish() {
      const at = now();
      if (drawn) out.write('\r\x1b[2K');
      const seconds = (at - started) / 1000;
      out.write(
        `${options.done} ${thousands(count)} ${options.unit} in ${seconds.toFixed(1)} s (${thousands(rate(at))} ${options.unit}/s)\n`,
      );
    },
  };
}
