#!/bin/sh
# Installs the extensions the API needs (APP_EXTENSIONS, space-separated) into the application database.
set -eu
for extension in $APP_EXTENSIONS; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE EXTENSION IF NOT EXISTS \"$extension\";"
done
