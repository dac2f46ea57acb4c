#!/usr/bin/env bash
# The agent's path with curl only (python3 reads the JSON): register, ask for the
# manifest, download targets with the grant and check their bytes against the hashes
# in the signed targets metadata, then try what must be refused.
# Usage: curl-flow.sh BASE_URL LICENSE_KEY PRODUCT GRANT_LIFETIME_SECONDS
set -euo pipefail
base=$1 key=$2 product=$3 lifetime=$4
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
status() { curl -s -o /dev/null -w '%{http_code}' "$1"; }

token=$(curl -sf -X POST "$base/v1/agents" -H 'content-type: application/json' \
  -d "{\"licenseKey\":\"$key\",\"machineId\":\"curl-$RANDOM$RANDOM\",\"product\":\"$product\",\"os\":\"linux\",\"arch\":\"x64\"}" | json "d['token']")
manifest=$(curl -sf -X POST "$base/v1/manifest" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "{\"product\":\"$product\"}")
set_path=$(echo "$manifest" | json "d['setManifest']")
targets_url=$(echo "$manifest" | json "d['targetsUrl']")
metadata_url=$(echo "$manifest" | json "d['metadataUrl']")
query=$(echo "$manifest" | json "d['download']['query']")

# The signed metadata: timestamp -> snapshot -> targets.
snapshot_version=$(curl -sf "${metadata_url}timestamp.json" | json "d['signed']['meta']['snapshot.json']['version']")
targets_version=$(curl -sf "${metadata_url}${snapshot_version}.snapshot.json" | json "d['signed']['meta']['targets.json']['version']")
targets=$(curl -sf "${metadata_url}${targets_version}.targets.json")
hash_of() { echo "$targets" | json "d['signed']['targets']['$1']['hashes']['sha256']"; }
# Consistent snapshots: the target path <dir>/<name> is served as <dir>/<sha256>.<name>.
served_as() { echo "${1%/*}/$(hash_of "$1").${1##*/}"; }

# The set manifest and one of its files, each matching the signed hash.
curl -sf -o set.json "${targets_url}$(served_as "$set_path")?${query}" || fail "set manifest not served with the grant"
[ "$(sha256sum set.json | cut -d' ' -f1)" = "$(hash_of "$set_path")" ] || fail "set manifest bytes do not match the signed hash"
file_target=$(json "d['files'][0]['target']" < set.json)
file_url="${targets_url}$(served_as "$file_target")"
curl -sf -o file.bin "${file_url}?${query}" || fail "target not served with the grant"
[ "$(sha256sum file.bin | cut -d' ' -f1)" = "$(hash_of "$file_target")" ] || fail "target bytes do not match the signed hash"
echo "ok: downloaded and verified ${set_path} and ${file_target}"

# Refused: a changed signature, another product's path, the grant after expiry.
signature=$(echo "$query" | sed -E 's/.*Signature=([^&]*).*/\1/')
changed=$(echo "$signature" | sed -E 's/^(.{10})./\1A/;t;s/^/A/')
[ "$changed" = "$signature" ] && changed=$(echo "$signature" | sed -E 's/^(.{10})./\1B/')
[ "$(status "${file_url}?${query/$signature/$changed}")" = 403 ] || fail "a changed signature was not refused"
[ "$(status "${targets_url}other-product/${file_url#"${targets_url}"*/}?${query}")" = 403 ] || fail "another product's path was not refused"
expires=$(echo "$manifest" | json "d['download']['expiresAt']")
now=$(date +%s); until_expiry=$(( $(date -d "$expires" +%s) - now + 1 ))
[ "$until_expiry" -le $(( lifetime + 1 )) ] || fail "grant lives longer than configured"
sleep "$until_expiry"
[ "$(status "${file_url}?${query}")" = 403 ] || fail "an expired grant was not refused"
echo "ok: changed signature, foreign product and expired grant refused"
