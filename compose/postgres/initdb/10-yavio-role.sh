#!/bin/sh
# Run once by the postgres image when the data volume is new: the application role `yavio`
# (a login, not a superuser) owning the `yavio` database. The password is read from the
# environment inside psql (\getenv), so it never appears in a command line.
set -eu
psql --no-psqlrc --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv yavio_password POSTGRES_YAVIO_PASSWORD
CREATE ROLE yavio LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'yavio_password';
ALTER DATABASE yavio OWNER TO yavio;
SQL
