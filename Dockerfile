# One image for every Weelo process; the command picks the service.
#   docker build -t weelo-backend .
#   docker run weelo-backend                                   # gateway
#   docker run weelo-backend node --import tsx services/identity/src/main.ts
# TypeScript runs through tsx's loader (esbuild transpiles each module once at start).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && rm -rf bench scripts/*.ts .ci

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    GRPC_PORT=50051 \
    METRICS_PORT=9464
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 3000 50051 9464
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "gateway/src/main.ts"]
