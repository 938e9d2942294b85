#!/bin/sh
# Run the Vigil server in its container: every interface, the /data volume, the token on.
#
# Models: <data>/models first, then a folder mounted at /models ($VIGIL_MODEL_DIR); those a
# configuration needs and neither holds are downloaded into <data>/models, unless
# VIGIL_DOWNLOAD_MODELS=false. Arguments are passed on to `vigil-analytics serve`.
set -eu
set -- --host 0.0.0.0 --data "${VIGIL_DATA:-/data}" "$@"
case "${VIGIL_DOWNLOAD_MODELS:-true}" in
  true | 1 | yes) set -- "$@" --download ;;
esac
exec vigil-analytics serve "$@"
