/**
 * The web app's read-side views: the review queue (calls worth a person's look), sessions (calls grouped by
 * session id) and settings (the configuration, no secret). One room for the three because each only reads
 * what others own (the calls and annotations tables, the configuration), owns no table and starts no work;
 * they left notifications/, which they never belonged to.
 */
export { CALIBRATED_MIN, type JudgeSummary, judgeCalibration, listJudges } from "./judges.ts";
export { type ReviewItem, type ReviewKind, reviewQueue, schemaFailure } from "./review.ts";
export { type ClusterKey, type ReviewCluster, reviewClusters } from "./review-clusters.ts";
export { viewsRoutes as routes } from "./routes.ts";
export { getSession, listSessions, type SessionSummary } from "./sessions.ts";
export { type SettingsView, settingsView } from "./settings.ts";
