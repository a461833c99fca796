/** Bradley–Terry against cases computed by hand. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bradleyTerry, invert, type Outcome } from "./bradley-terry.ts";

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} ≉ ${b}`);
const games = (i: number, j: number, wins: number, losses: number): Outcome[] => [
  ...Array.from({ length: wins }, () => ({ i, j, score: 1 as const })),
  ...Array.from({ length: losses }, () => ({ i, j, score: 0 as const })),
];

describe("bradleyTerry", () => {
  it("should give log(3) and se √(1/(4·¾·¼)) for 3 wins in 4 against the reference", () => {
    const s = bradleyTerry(2, games(1, 0, 3, 1));
    assert.ok(s);
    close(s[0]?.theta ?? NaN, 0);
    close(s[1]?.theta ?? NaN, Math.log(3));
    close(s[1]?.se ?? NaN, Math.sqrt(1 / 0.75));
    close(s[1]?.interval[0] ?? NaN, Math.log(3) - 1.959963984540054 * Math.sqrt(1 / 0.75));
  });

  it("should give equal strengths and se √(1.5/1.6875) for a 2–1 cycle of three", () => {
    // A beats B 2–1, B beats C 2–1, C beats A 2–1: all equal. Information without C: [[1.5, −.75], [−.75, 1.5]].
    const s = bradleyTerry(3, [...games(0, 1, 2, 1), ...games(1, 2, 2, 1), ...games(2, 0, 2, 1)], {
      reference: 2,
    });
    assert.ok(s);
    for (const x of s) close(x.theta, 0);
    close(s[0]?.se ?? NaN, Math.sqrt(1.5 / 1.6875));
    assert.equal(s[2]?.se, 0);
  });

  it("should satisfy the likelihood equations (wins = expected wins) on an uneven design", () => {
    const outcomes = [...games(0, 1, 5, 2), ...games(1, 2, 3, 3), ...games(0, 2, 4, 1), ...games(2, 3, 2, 6)];
    outcomes.push({ i: 1, j: 3, score: 0.5 });
    const s = bradleyTerry(4, outcomes);
    assert.ok(s);
    const g = s.map((x) => Math.exp(x.theta));
    for (let i = 0; i < 4; i++) {
      let w = 0;
      let e = 0;
      for (const o of outcomes) {
        if (o.i !== i && o.j !== i) continue;
        const [me, them, score] = o.i === i ? [o.i, o.j, o.score] : [o.j, o.i, 1 - o.score];
        w += score;
        e += (g[me] as number) / ((g[me] as number) + (g[them] as number));
      }
      close(w, e, 1e-6);
    }
  });

  it("should keep a player who won everything finite with a prior, and answer null for an unplayed one", () => {
    const s = bradleyTerry(2, games(1, 0, 4, 0), { prior: 1 });
    // 4.5 wins of 5: γ = 4.5/0.5 = 9.
    close(s?.[1]?.theta ?? NaN, Math.log(9));
    assert.equal(bradleyTerry(3, games(1, 0, 1, 1)), null);
  });

  it("should invert a matrix and refuse a singular one", () => {
    const inv = invert([
      [2, 1],
      [1, 1],
    ]);
    assert.deepEqual(inv, [
      [1, -1],
      [-1, 2],
    ]);
    assert.equal(
      invert([
        [1, 2],
        [2, 4],
      ]),
      null,
    );
  });
});
