#!/bin/sh
# Creates the application role and hands it the database named by POSTGRES_DB.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
    CREATE ROLE "${APP_ROLE}" LOGIN;
  END IF;
END
\$\$;
ALTER DATABASE "${POSTGRES_DB}" OWNER TO "${APP_ROLE}";
GRANT ALL ON SCHEMA public TO "${APP_ROLE}";
SQL
