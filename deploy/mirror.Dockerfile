# signet mirror as a container: the site package (npm run build:site) on Node's slim image.
#   docker build -f deploy/mirror.Dockerfile -t signet-mirror .
#   docker run -d -p 8090:8090 -v signet-mirror:/var/lib/signet-mirror \
#     -e SIGNET_MIRROR_UPSTREAM=https://updates.example.com -e SIGNET_MIRROR_SEATS=50 \
#     -v /etc/signet/root.json:/etc/signet/root.json:ro \
#     -v /etc/signet/license.key:/run/secrets/signet_license:ro signet-mirror
# The license key as a file (a secret), never in the environment; the data dir on a volume.

FROM node:20-bookworm-slim AS build
WORKDIR /src
# From the lockfile, without install scripts: nothing runs but the build below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY cli cli
COPY agent agent
COPY mirror mirror
COPY lib lib
COPY functions functions
COPY local local
COPY layers layers
COPY deploy deploy
RUN npm run build:site

FROM node:20-bookworm-slim
COPY --from=build /src/dist/site /opt/signet
RUN mkdir -p /var/lib/signet-mirror && chown node:node /var/lib/signet-mirror
USER node
ENV NODE_ENV=production \
    SIGNET_MIRROR_DIR=/var/lib/signet-mirror \
    SIGNET_MIRROR_PORT=8090 \
    SIGNET_ROOT=/etc/signet/root.json \
    SIGNET_LICENSE_FILE=/run/secrets/signet_license
VOLUME /var/lib/signet-mirror
EXPOSE 8090
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.SIGNET_MIRROR_PORT}/v1/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) ends it cleanly, exit 0.
ENTRYPOINT ["node", "/opt/signet/signet.mjs", "mirror", "serve"]
