#!/usr/bin/env bash
# Creates what the production edge (edge/wrangler.toml, [env.production]) needs in a Cloudflare
# account, with wrangler. Safe to run again: what exists is left as it is. docs/deploy.md, step 5.
#
#   infra/edge/provision.sh resources   R2 buckets (results, models; a 7-day expiry of abandoned
#                                       batch uploads), the API_KEYS KV namespace, the batch
#                                       queues; prints the KV id for wrangler.toml
#   infra/edge/provision.sh secrets     FUNCTION_POOL (and FUNCTION_AUTH_TOKEN, if set) from this
#                                       shell's environment, and BATCH_UPLOAD_SECRET (random unless
#                                       set) → `wrangler secret put --env production`
#   infra/edge/provision.sh check       `wrangler deploy --dry-run --env production` (no account needed)
#
# Authentication: `wrangler login`, or CLOUDFLARE_API_TOKEN (+ CLOUDFLARE_ACCOUNT_ID) in the
# environment. Durable Objects (KEY_QUOTAS) and the rate limiter need nothing here: `wrangler
# deploy` creates them from the migrations and the [[ratelimits]] entries. Durable Objects: KEY_QUOTAS, BATCH_JOBS.
#
# Names can be changed through the environment (defaults in brackets): RESULTS_BUCKET
# [sa-munit-results], MODELS_BUCKET [sa-munit-models], KV_NAMESPACE [sa-munit-api-keys],
# BATCH_QUEUE [sa-munit-batch], BATCH_DLQ [sa-munit-batch-dlq], R2_LOCATION [none: Cloudflare
# chooses; e.g. weur], UPLOAD_EXPIRE_DAYS [7], WRANGLER [npx --no-install wrangler].
set -euo pipefail

cd "$(dirname "$0")/../../edge"

read -r -a wrangler <<<"${WRANGLER:-npx --no-install wrangler}"
results_bucket=${RESULTS_BUCKET:-sa-munit-results}
models_bucket=${MODELS_BUCKET:-sa-munit-models}
kv_namespace=${KV_NAMESPACE:-sa-munit-api-keys}
batch_queue=${BATCH_QUEUE:-sa-munit-batch}
batch_dlq=${BATCH_DLQ:-sa-munit-batch-dlq}
export WRANGLER_SEND_METRICS=false

say() { printf '[provision] %s\n' "$*" >&2; }
# wrangler's own output goes to stderr with the progress: stdout carries only the KV id.
run() {
  say "wrangler $*"
  "${wrangler[@]}" "$@" >&2
}

# Whether `name` appears as a whole word in a listing (wrangler prints tables, JSON or key: value).
listed() {
  local name=$1 listing=$2
  grep -Eq "(^|[^A-Za-z0-9_-])${name}([^A-Za-z0-9_-]|$)" <<<"$listing"
}

ensure_bucket() {
  local bucket=$1
  if listed "$bucket" "$("${wrangler[@]}" r2 bucket list)"; then
    say "R2 bucket $bucket exists"
  else
    run r2 bucket create "$bucket" ${R2_LOCATION:+--location "$R2_LOCATION"}
  fi
}

ensure_queue() {
  local queue=$1
  if listed "$queue" "$("${wrangler[@]}" queues list)"; then
    say "queue $queue exists"
  else
    run queues create "$queue"
  fi
}

kv_id() {
  "${wrangler[@]}" kv namespace list | node -e '
    let text = "";
    process.stdin.on("data", (chunk) => (text += chunk)).on("end", () => {
      const found = JSON.parse(text.slice(text.indexOf("["))).find((ns) => ns.title === process.argv[1]);
      if (found) console.log(found.id);
    });' "$kv_namespace"
}

resources() {
  "${wrangler[@]}" whoami >/dev/null || { say "not logged in: run wrangler login, or set CLOUDFLARE_API_TOKEN"; exit 1; }
  # RESULTS: results by content address; models: what infra/publish uploads and the functions read
  # over R2's S3 API (they need an R2 API token: docs/deploy.md, step 5).
  ensure_bucket "$results_bucket"
  ensure_bucket "$models_bucket"
  # Batch uploads (uploads/<job>/<item>) are deleted when their job finishes; this rule removes
  # those of jobs that never finish (uploads abandoned halfway). Results are kept.
  if "${wrangler[@]}" r2 bucket lifecycle list "$results_bucket" 2>/dev/null | grep -q expire-batch-uploads; then
    say "lifecycle rule expire-batch-uploads exists"
  else
    run r2 bucket lifecycle add "$results_bucket" expire-batch-uploads uploads/ --expire-days "${UPLOAD_EXPIRE_DAYS:-7}" --force
  fi
  local id
  id=$(kv_id)
  if [[ -n "$id" ]]; then
    say "KV namespace $kv_namespace exists"
  else
    run kv namespace create "$kv_namespace"
    id=$(kv_id)
  fi
  # The batch API (uploads → queue → consumer) sends failed messages to the dead-letter queue.
  ensure_queue "$batch_queue"
  ensure_queue "$batch_dlq"
  say "done. In edge/wrangler.toml, [[env.production.kv_namespaces]] binding API_KEYS needs: id = \"$id\""
  printf '%s\n' "$id"
}

secrets() {
  if [[ -z "${FUNCTION_POOL:-}" ]]; then
    say "set FUNCTION_POOL to the functions' base URLs, comma-separated (e.g. the Cloud Run URL)"
    exit 2
  fi
  printf '%s' "$FUNCTION_POOL" | run secret put FUNCTION_POOL --env production
  # Signs batch upload URLs: made here unless given, never the local value from wrangler.toml.
  printf '%s' "${BATCH_UPLOAD_SECRET:-$(node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("base64url"))')}" |
    run secret put BATCH_UPLOAD_SECRET --env production
  if [[ -n "${FUNCTION_AUTH_TOKEN:-}" ]]; then
    printf '%s' "$FUNCTION_AUTH_TOKEN" | run secret put FUNCTION_AUTH_TOKEN --env production
  else
    say "FUNCTION_AUTH_TOKEN not set: the edge sends no token to the functions"
  fi
}

check() {
  local out
  out=$(mktemp -d)
  run deploy --dry-run --env production --outdir "$out"
  rm -rf "$out"
}

case "${1:-}" in
  resources) resources ;;
  secrets) secrets ;;
  check) check ;;
  *)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
