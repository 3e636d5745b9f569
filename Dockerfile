# Kiln's API and workers in one image; docker-compose.yml picks the entry point per service.
FROM node:24-slim

# git: runners fetch and check out the repositories they build.
RUN apt-get update \
  && apt-get install -y --no-install-recommends git ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
ENV NODE_ENV=production

# Dependencies first so that a source change does not reinstall them. Node itself comes from the
# base image: the `node` package in devDependencies is only for development machines.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY shared ./shared
COPY workflows ./workflows
COPY activities ./activities
COPY adapters ./adapters
COPY workers ./workers
COPY api ./api
COPY cli ./cli
COPY infra ./infra

# The data directory (mirrors, workspaces, logs) belongs to the unprivileged `node` user.
RUN mkdir -p /var/lib/kiln && chown node:node /var/lib/kiln
USER node
ENV KILN_DATA_DIR=/var/lib/kiln
VOLUME ["/var/lib/kiln"]

EXPOSE 8080
CMD ["node", "workers/api.ts"]
