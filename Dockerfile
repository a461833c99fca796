# intersebd: the proxy, the REST API and the web app in one image.
#
#   docker build -t intersebd .
#   docker run -p 8787:8787 -e INTERSEBD_API_KEY=change-me -v intersebd-data:/data intersebd
#
# It listens on 0.0.0.0 inside the container, so it refuses to start without INTERSEBD_API_KEY (as outside
# one). Data (the SQLite file, or the journal and spool when DATABASE_URL points to PostgreSQL) lives in /data.
# compose.yaml runs it with PostgreSQL; docs/deploy.md covers production.

# ---- build: every dependency, then the server's JavaScript and the web app ------------------------------------
FROM node:24-slim AS build
WORKDIR /app
# The package files alone first: this layer, and `npm ci`'s, stay cached until a dependency changes.
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/server/package.json packages/server/
COPY packages/web/package.json packages/web/
# --ignore-scripts: the only package with an install script is the root devDependency `node`, which downloads a
# Node 24 binary for the repository's scripts; this image is Node 24 already. Its shim is removed so that
# the build finds the image's node. (The root postinstall, a build, is run below once the sources are in.)
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/.bin/node
# The server package's own build (scripts/build-package.ts, as `npm pack` runs it): its JavaScript in
# packages/server/dist and the web app, built by Vite, in packages/server/webapp.
# The SDK first: the server imports its chat kernel (`intersebd/chat`) and runs against its published JavaScript.
COPY scripts/build-package.ts scripts/
COPY packages/sdk/tsconfig.build.json packages/sdk/tsconfig.build.cjs.json packages/sdk/
COPY packages/sdk/src packages/sdk/src
COPY packages/server/tsconfig.build.json packages/server/
COPY packages/server/src packages/server/src
COPY packages/web packages/web
RUN node scripts/build-package.ts sdk && node scripts/build-package.ts server

# ---- deps: the server's production dependencies only (no web, no dev tools) -------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/server/package.json packages/server/
COPY packages/web/package.json packages/web/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund -w packages/server

# ---- runtime -----------------------------------------------------------------------------------------------------
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production \
    INTERSEBD_HOST=0.0.0.0 \
    INTERSEBD_PORT=8787 \
    INTERSEBD_DATA_DIR=/data \
    MALLOC_ARENA_MAX=2
# The server as its npm package ships it: bin/intersebd.js runs dist/ (JavaScript; no sources, no type stripping).
COPY --from=deps /app/node_modules node_modules
COPY package.json ./
COPY packages/server/package.json packages/server/
COPY packages/server/bin packages/server/bin
# node_modules/intersebd links to the workspace SDK: its manifest and its built JavaScript.
COPY packages/sdk/package.json packages/sdk/
COPY --from=build /app/packages/sdk/dist packages/sdk/dist
COPY --from=build /app/packages/server/dist packages/server/dist
COPY --from=build /app/packages/server/webapp packages/server/webapp
# Node's compile cache, written once here by loading every module of the CLI, so that the server's first start
# compiles nothing. The runtime user may add to it (modules loaded later, such as the pg driver).
ENV NODE_COMPILE_CACHE=/app/.compile-cache
RUN node packages/server/bin/intersebd.js --help >/dev/null \
 && mkdir -p /data \
 && chown -R node:node /data /app/.compile-cache
USER node
VOLUME /data
EXPOSE 8787
# No curl in the slim image: node asks /healthz (open, no key needed).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.INTERSEBD_PORT}/healthz`).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and gets SIGTERM from `docker stop`: `serve` then stops accepting requests, drains the capture
# queue into the store and exits (give it time: compose.yaml's stop_grace_period, docs/deploy.md).
# The flags are those of bin/intersebd.js's shebang, written out.
ENTRYPOINT ["node", "--max-semi-space-size=8", "packages/server/bin/intersebd.js"]
CMD ["serve"]
