/**
 * How soon the next request for one key is expected: an exponentially weighted mean of the gaps
 * between arrivals. Time already spent waiting since the last arrival is a lower bound on the
 * current gap, so when a stream stops the estimate grows on its own and the batcher stops
 * holding requests for arrivals that are not coming.
 */
const GAP_WEIGHT = 0.2;

export class ArrivalRate {
  #last: number | undefined;
  #meanGap: number | undefined;

  record(now: number): void {
    if (this.#last !== undefined) {
      const gap = Math.max(0, now - this.#last);
      this.#meanGap = this.#meanGap === undefined ? gap : this.#meanGap + GAP_WEIGHT * (gap - this.#meanGap);
    }
    this.#last = now;
  }

  /** Expected ms from `now` until the next arrival; Infinity before two arrivals were seen. */
  expectedGap(now: number): number {
    if (this.#last === undefined || this.#meanGap === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(this.#meanGap, now - this.#last);
  }
}
