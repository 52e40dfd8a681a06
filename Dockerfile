# syntax=docker/dockerfile:1
# Build: docker build -t leaseguard:0.1.0 .

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency runs code at install (none needs to: package-lock.json has no install scripts).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The SBOM describes exactly what is installed. `npm sbom --omit=dev` refuses a tree without
# the devDependencies (ESBOMPROBLEMS), and on a full tree drops runtime packages that dev tools
# also use; so this stage's manifest (never copied on) forgets its devDependencies first.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm pkg delete devDependencies \
 && npm sbom --sbom-format=cyclonedx > sbom.cdx.json

# Distroless: no shell, no package manager; runs as uid 65532 (nonroot).
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=deps /app/sbom.cdx.json ./sbom.cdx.json
COPY package.json ./
COPY webhook ./webhook
USER 65532:65532
EXPOSE 8443 9090
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli.js"]
CMD ["serve"]
