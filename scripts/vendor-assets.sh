#!/bin/sh
# Copy the staff pages' front-end files from node_modules to where the pages serve them (git-ignored).
# The precompiled GOV.UK CSS looks for its fonts and images under /assets; here they are served under
# /static/vendor/govuk/assets. Used by `make install` and by the Dockerfile.
set -eu
VENDOR="${1:-api/static/vendor}"
rm -rf "$VENDOR"
mkdir -p "$VENDOR/govuk" "$VENDOR/htmx"
cp -R node_modules/govuk-frontend/dist/govuk/assets "$VENDOR/govuk/"
cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js "$VENDOR/govuk/"
sed 's#url(/assets/#url(/static/vendor/govuk/assets/#g' node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css \
    > "$VENDOR/govuk/govuk-frontend.min.css"
cp node_modules/htmx.org/dist/htmx.min.js "$VENDOR/htmx/"
