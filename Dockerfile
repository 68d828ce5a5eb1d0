# One image for every Weelo process; the command picks the process.
#   docker build -t weelo-backend .
#   docker run weelo-backend                                          # the gateway
#   docker run weelo-backend node dist/services/identity/main.js      # a service
# The image runs JavaScript with plain node: `npm run build` (scripts/build.mjs, esbuild)
# bundles each main with the workspace packages into dist/; the packages of node_modules stay
# imports of the production dependencies installed beside it. No TypeScript, tsx or dev
# dependency is in the image. CI reads this file too (scripts/check-compose.mjs): the command
# must be plain node on the build of a main, as non-root, and every base image is pinned by
# digest (@sha256:…) or carries a `digest-exception` saying how it is.

# The base image: the current Node.js LTS (development and tests also run on Node 20.11+).
# Release builds pin it by digest: the pipeline resolves the tag once
#   docker buildx imagetools inspect node:24-bookworm-slim --format '{{json .Manifest.Digest}}'
# and builds with --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:<that digest> (the digest
# is recorded with the release; a dependency bot proposes new ones), so a release is rebuilt
# from the same bytes. No digest is written here: this repository's CI cannot reach a registry
# to verify one, and an invented digest would only break builds.
# digest-exception NODE_IMAGE: local and CI builds follow the tag; release builds pass the digest as above.
ARG NODE_IMAGE=node:24-bookworm-slim

# 1. The package manifests alone, so the dependency layers below are rebuilt only when a
#    package.json or the lock changes, not on every source edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && find . -name package.json -not -path "*/node_modules/*" -exec cp --parents {} /manifests \; \
 && cp package-lock.json /manifests/

# 2. Production dependencies of every workspace, hoisted into one node_modules. The links to
#    the workspace packages (@weelo/*) go: the build bundles them.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY --from=manifests /manifests ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/@weelo \
 && npm cache clean --force

# 3. The build: every dependency (esbuild among them), the sources, `npm run build` → dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY --from=manifests /manifests ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# 4. The runtime: dist/ and the production dependencies, owned by root and read-only to the
#    process, which runs as the unprivileged node user and writes only to /app/data
#    (development keys and mesh certificates, the embedded database).
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    GRPC_PORT=50051 \
    METRICS_PORT=9464 \
    DATA_DIR=/app/data \
    NODE_COMPILE_CACHE=/tmp/node-compile-cache
# NODE_COMPILE_CACHE: Node (22+) keeps the code it compiled there. A container restarted in its
# pod (the pod's /tmp emptyDir outlives it) starts from it, in about half the time; a new pod
# compiles once. A /tmp that cannot be written only turns the cache off.
WORKDIR /app
COPY --from=deps /app/package.json ./
COPY --from=deps /app/node_modules ./node_modules
# dist/ holds the processes' bundles and dist/console/, the operations console's page and
# bundles that the gateway serves at /console.
COPY --from=build /src/dist ./dist
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000 50051 9464
# Signals: every main handles SIGTERM/SIGINT from before its start (libs/runtime runMain), so it
# stops on SIGTERM even during start-up, whatever its PID. Node does not reap orphans; the
# processes spawn none, but each runs under an init: compose sets `init: true` (`docker run
# --init` does the same), and in Kubernetes every pod sets shareProcessNamespace, so the pause
# container is PID 1 and reaps orphans.
STOPSIGNAL SIGTERM
CMD ["node", "dist/gateway/main.js"]
