# Arbiter: build the TypeScript, then run it on a slim image as an unprivileged user.
# Node 26 is the Active LTS line since 2026-10-28 (Node 24 is in maintenance until 2028-04-30);
# package.json's engines (>= 20.19) allows any of them: `--build-arg NODE_IMAGE=node:24-bookworm-slim`.
ARG NODE_IMAGE=node:26-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The web console's sources: npm run build compiles them into dist/console.
COPY console ./console
# tsconfig.build.json also names bench/, which is not in the build context: tsc builds src alone.
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/var/lib/arbiter POLICY_PATH=/app/policies
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json LICENSE NOTICE ./
COPY migrations ./migrations
COPY policies ./policies
RUN mkdir -p /var/lib/arbiter && chown node:node /var/lib/arbiter
# The image's `node` user, by number, so that Kubernetes' runAsNonRoot can tell it is not root.
USER 1000:1000
VOLUME /var/lib/arbiter
EXPOSE 8080
# Slim images have no curl: Node's own fetch asks /health on the port Arbiter listens on (HOST
# must then include the loopback address, as the default 0.0.0.0 does).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/health', { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/src/cli/main.js", "serve"]
