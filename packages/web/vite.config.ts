import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * The web app's build. `npm run build` writes `dist/`, which the server serves at `/`.
 * In development (`npx vite` here) the API and the proxy are forwarded to a server on INTERSEBD_DEV_API
 * (default http://127.0.0.1:8787).
 */
const api = process.env.INTERSEBD_DEV_API ?? "http://127.0.0.1:8787";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  server: {
    proxy: { "/api": api, "/v1": api, "/healthz": api },
  },
});
