import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

/**
 * The web app's build. `npm run build` writes `packages/server/webapp/`, which the server serves at `/` (and which
 * the server's npm package ships). `@intersebd/server/...` imports resolve to the server's TypeScript sources (the
 * `intersebd-source` export condition), so the app builds without the server being built.
 * In development (`npx vite` here) the API and the proxy are forwarded to a server on INTERSEBD_DEV_API
 * (default http://127.0.0.1:8787), addressed by its own Host (`changeOrigin`: a loopback-bound server refuses any
 * other). The browser's Origin is Vite's, so start that server with INTERSEBD_ALLOWED_ORIGINS=http://localhost:5173.
 */
const api = process.env.INTERSEBD_DEV_API ?? "http://127.0.0.1:8787";

export default defineConfig({
  plugins: [react()],
  base: "/",
  resolve: { conditions: ["intersebd-source", ...defaultClientConditions] },
  build: {
    outDir: "../server/webapp",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: true },
      "/v1": { target: api, changeOrigin: true },
      "/healthz": { target: api, changeOrigin: true },
    },
  },
});
