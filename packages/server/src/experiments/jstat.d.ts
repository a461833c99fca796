/**
 * The part of jstat (which ships no types) the experiment report uses: the chi-square CDF for the sample-ratio
 * check. Declared here, narrowly, so that nothing else of jstat is reached for without a type.
 */
declare module "jstat" {
  interface JStat {
    chisquare: { cdf(x: number, dof: number): number };
  }
  const jstat: { jStat: JStat };
  export default jstat;
}
