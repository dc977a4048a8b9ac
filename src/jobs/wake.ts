// A wake-up call for a long-lived job that sleeps between runs: `set` from anywhere (a commit, a
// notification); `wait` resolves at once if set since the last wait, else at the next `set`, the
// timeout (the job's poll, for what no one announced) or the signal, whichever comes first.

export class Wake {
  #set = false;
  #waiter: (() => void) | undefined;

  set(): void {
    this.#set = true;
    this.#waiter?.();
  }

  /** Resolves with whether it was woken by `set` (rather than by the timeout or the signal). */
  wait(timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    if (this.#set || signal.aborted) {
      const woken = this.#set;
      this.#set = false;
      return Promise.resolve(woken);
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#waiter = undefined;
        const woken = this.#set;
        this.#set = false;
        resolve(woken);
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref(); // a waiting job never keeps the process alive
      signal.addEventListener('abort', done, { once: true });
      this.#waiter = done;
    });
  }
}
