#!/bin/bash
# Runs once, when the PostgreSQL container initialises an empty data volume
# (/docker-entrypoint-initdb.d). Creates the two roles of docs/deployment.md and the
# database, owned by the owner role:
#   partnerlytics_owner  owns the schema; migrations and admin commands (MIGRATION_DATABASE_URL)
#   partnerlytics_app    what the services connect as (DATABASE_URL); owns nothing. Its table
#                        privileges are granted by the migrations.
# Passwords come from the environment, or from files (compose secrets) named by *_FILE.
set -euo pipefail

secret() {  # secret NAME: $NAME, or the content of the file named by $NAME_FILE
    local name="$1" file_var="${1}_FILE"
    if [[ -n "${!file_var:-}" ]]; then
        cat "${!file_var}"
    elif [[ -n "${!name:-}" ]]; then
        printf '%s' "${!name}"
    else
        echo "init-roles: $name (or ${name}_FILE) is not set" >&2
        exit 1
    fi
}

owner_password="$(secret PARTNERLYTICS_OWNER_PASSWORD)"
app_password="$(secret PARTNERLYTICS_APP_PASSWORD)"
database="${PARTNERLYTICS_DB:-partnerlytics}"

# psql variables (:'name') quote the values: a password may hold any character.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$owner_password" -v app_password="$app_password" -v database="$database" <<'SQL'
CREATE ROLE partnerlytics_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE partnerlytics_app LOGIN PASSWORD :'app_password';
CREATE DATABASE :"database" OWNER partnerlytics_owner;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO partnerlytics_app;
SQL
