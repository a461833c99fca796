/**
 * Cohen's kappa with its interval, against published worked examples: the SAS/STAT PROC FREQ agreement
 * example (kappa 0.4842, ASE 0.1380, 95% limits 0.2137 and 0.7547; the ASE is Fleiss, Cohen & Everitt's), the
 * three-category diagnoses of Fleiss, Levin & Paik (2003, table 18.1: kappa 0.676) and Wikipedia's 2×2 example
 * (kappa 0.4).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agreementTable, cohenKappa, cohenKappaInterval, cohenKappaTable } from "./stats.ts";

const close = (actual: number | null | undefined, expected: number, tol = 5e-5) =>
  assert.ok(
    actual !== null && actual !== undefined && Math.abs(actual - expected) <= tol,
    `${actual} is not within ${tol} of ${expected}`,
  );

describe("cohenKappaTable", () => {
  it("matches the SAS PROC FREQ agreement example to its four printed decimals", () => {
    const r = cohenKappaTable([
      [0, 4, 1],
      [0, 8, 0],
      [0, 1, 5],
    ]);
    assert.equal(r.n, 19);
    close(r.kappa, 0.4842);
    close(r.se, 0.138);
    close(r.ci?.[0], 0.2137);
    close(r.ci?.[1], 0.7547);
  });

  it("matches Fleiss, Levin & Paik's three diagnoses (proportions × 100 subjects)", () => {
    const r = cohenKappaTable([
      [75, 1, 4],
      [5, 4, 1],
      [0, 0, 10],
    ]);
    close(r.kappa, 0.676, 5e-4);
    // The interval is kappa ± 1.96·se, and se is the non-null one (larger than the 0.076 under kappa = 0).
    assert.ok(r.se !== null && r.se > 0.076 && r.se < 0.1, String(r.se));
    close(r.ci?.[0], (r.kappa as number) - 1.959964 * (r.se as number), 1e-5);
  });

  it("agrees with cohenKappa on yes/no pairs (Wikipedia: 20 yes–yes, 5 yes–no, 10 no–yes, 15 no–no)", () => {
    const pairs = [
      ...Array.from({ length: 20 }, () => ({ a: true, b: true })),
      ...Array.from({ length: 5 }, () => ({ a: true, b: false })),
      ...Array.from({ length: 10 }, () => ({ a: false, b: true })),
      ...Array.from({ length: 15 }, () => ({ a: false, b: false })),
    ];
    const r = cohenKappaInterval(pairs);
    close(r.kappa, 0.4, 1e-9);
    assert.equal(r.kappa, cohenKappa(pairs));
    assert.deepEqual(agreementTable(pairs, [true, false]), [
      [20, 5],
      [10, 15],
    ]);
    assert.ok(r.ci && r.ci[0] < 0.4 && r.ci[1] > 0.4);
  });

  it("perfect agreement has kappa 1 and a zero-width interval; one category throughout has none", () => {
    const perfect = cohenKappaTable([
      [6, 0],
      [0, 4],
    ]);
    assert.equal(perfect.kappa, 1);
    assert.equal(perfect.se, 0);
    assert.deepEqual(perfect.ci, [1, 1]);
    assert.deepEqual(
      cohenKappaTable([
        [7, 0],
        [0, 0],
      ]),
      { n: 7, kappa: null, se: null, ci: null },
    );
    assert.deepEqual(cohenKappaTable([]), { n: 0, kappa: null, se: null, ci: null });
  });

  it("keeps the interval inside [-1, 1]", () => {
    const r = cohenKappaTable([
      [0, 2],
      [1, 0],
    ]);
    assert.ok(r.kappa !== null && r.kappa < 0);
    assert.ok(r.ci && r.ci[0] >= -1 && r.ci[1] <= 1, JSON.stringify(r));
  });
});
