#!/bin/bash
# citus-setup of deploy/citus/compose.citus.yml: runs once per `up`, and again harmlessly.
# Every node already has the roles and the database (deploy/postgres/init-roles.sh).
set -euo pipefail
database="${PARTNERLYTICS_DB:-partnerlytics}"
for host in postgres $CITUS_WORKERS; do
    psql -v ON_ERROR_STOP=1 -h "$host" -U postgres -d "$database" -c "CREATE EXTENSION IF NOT EXISTS citus"
done
psql -v ON_ERROR_STOP=1 -h postgres -U postgres -d "$database" \
    -v postgres_password="$POSTGRES_PASSWORD" -v owner_password="$PARTNERLYTICS_OWNER_PASSWORD" \
    -v app_password="$PARTNERLYTICS_APP_PASSWORD" <<'SQL'
-- How the nodes log in to each other as each role (node 0: every node).
DELETE FROM pg_dist_authinfo WHERE nodeid = 0;
INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES
    (0, 'postgres', 'password=' || :'postgres_password'),
    (0, 'partnerlytics_owner', 'password=' || :'owner_password'),
    (0, 'partnerlytics_app', 'password=' || :'app_password');
SELECT citus_set_coordinator_host('postgres', 5432);
SQL
for host in $CITUS_WORKERS; do
    psql -v ON_ERROR_STOP=1 -h postgres -U postgres -d "$database" \
        -c "SELECT citus_add_node('$host', 5432) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = '$host')"
done
