# voxline: telephony speech gateway. Two stages: build with dev dependencies, run without them.
# The full image has python3, make and g++, in case better-sqlite3 must compile (no prebuilt binary).
FROM node:20-bookworm AS build
WORKDIR /app
# .npmrc skips onnxruntime-node's download of CUDA libraries (CPU is all the VAD needs).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Optional edges, when configured: SIP (SIP_PORT, UDP and TCP), its RTP range (SIP_RTP_PORTS) and
# Asterisk AudioSocket (AUDIOSOCKET_PORT). Publish them with host networking or -p 5060:5060/udp
# -p 5060:5060 -p 20000-20999:20000-20999/udp (and set SIP_RTP_PORTS and SIP_PUBLIC_HOST to match).
EXPOSE 5060/udp 5060/tcp 9092/tcp
# SIGTERM starts a graceful drain of live calls (SHUTDOWN_DRAIN_MS); the orchestrator's kill
# timeout must be longer than the drain.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
