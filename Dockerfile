# voxline: telephony speech gateway. Two stages: build with dev dependencies, run without them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# .npmrc skips onnxruntime-node's download of CUDA libraries (CPU is all the VAD needs).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM starts a graceful drain of live calls (SHUTDOWN_DRAIN_MS); the orchestrator's kill
# timeout must be longer than the drain.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
