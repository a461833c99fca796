import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/**
 * The web app's build. `npm run build` writes `dist/`, which the server serves at `/`.
 * In development (`npx vite` here) the API and the proxy are forwarded to a server on INTERSEBD_DEV_API
 * (default http://127.0.0.1:8787), addressed by its own Host (`changeOrigin`: a loopback-bound server refuses any
 * other). The browser's Origin is Vite's, so start that server with INTERSEBD_ALLOWED_ORIGINS=http://localhost:5173.
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
    proxy: {
      "/api": { target: api, changeOrigin: true },
      "/v1": { target: api, changeOrigin: true },
      "/healthz": { target: api, changeOrigin: true },
    },
  },
});
