# Arbiter: build the TypeScript, then run it on a slim image as an unprivileged user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/var/lib/arbiter POLICY_PATH=/app/policies
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY policies ./policies
RUN mkdir -p /var/lib/arbiter && chown node:node /var/lib/arbiter
USER node
VOLUME /var/lib/arbiter
EXPOSE 8080
CMD ["node", "dist/src/cli/main.js", "serve"]
