#!/usr/bin/env bash
# The stack test runs PostgreSQL as a plain process: install Debian's server when it is absent.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL from Debian's packages for the stack test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
    || echo "could not install PostgreSQL; the stack test will be skipped"
else
  echo "PostgreSQL server not found and not root: the stack test will be skipped"
fi
exit 0
