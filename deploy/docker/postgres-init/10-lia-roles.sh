#!/bin/sh
# Run once by the postgres image on an empty data directory (deploy/compose.yaml mounts this
# folder as /docker-entrypoint-initdb.d). One login role per service, granted its own schema
# only, like lia::pg::ensure_service_role and the production set-up in k8s/README.md:
#   role lia_<schema>, schema <schema>, USAGE + CREATE on it (the service's --migrate creates and
#   owns its tables), nothing on the other schemas.
set -eu
: "${LIA_PG_APP_PASSWORD:?LIA_PG_APP_PASSWORD is not set}"
for schema in ingestion conversation ai engagement collections notification; do
  psql -q -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v role="lia_$schema" -v schema="$schema" -v pw="$LIA_PG_APP_PASSWORD" -v db="$POSTGRES_DB" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'pw';
GRANT CONNECT ON DATABASE :"db" TO :"role";
CREATE SCHEMA :"schema";
REVOKE ALL ON SCHEMA :"schema" FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA :"schema" TO :"role";
SQL
done
echo "lia: six service roles and schemas created"
