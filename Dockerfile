# syntax=docker/dockerfile:1
# Build: docker build -t leaseguard:0.1.0 .

# The bases name the exact Node.js release the tests run (.node-version; a unit test keeps
# them together). The runtime copies that node binary onto distroless/cc, so the image runs
# the Node.js that was tested, not whichever 24.x a nodejs24 tag points at today.
FROM node:24.22.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency runs code at install (none needs to: package-lock.json has no install scripts).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24.22.3-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The SBOM describes exactly what is installed. `npm sbom --omit=dev` refuses a tree without
# the devDependencies (ESBOMPROBLEMS), and on a full tree drops runtime packages that dev tools
# also use; so this stage's manifest (never copied on) forgets its devDependencies first.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm pkg delete devDependencies \
 && npm sbom --sbom-format=cyclonedx > sbom.cdx.json

# Distroless: no shell, no package manager; runs as uid 65532 (nonroot). cc: glibc, libgcc,
# libstdc++ and OpenSSL's libraries, what the node binary links.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/node /nodejs/bin/node
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
