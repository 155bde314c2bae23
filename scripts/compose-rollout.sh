#!/bin/sh
# Zero-downtime rollout of the API under docker compose (plain `up -d` recreates every
# replica at once). Starts as many new replicas as run now, with the new image, waits
# until each is healthy, reloads nginx, then stops the old ones (SIGTERM: they drain their
# requests within stop_grace_period) and reloads nginx again. If a new replica does not
# become healthy, the new ones are removed and the old ones keep serving.
#
#   APP_IMAGE=cerflow:0.1.1 scripts/compose-rollout.sh
set -eu
dc() { docker compose -f deploy/docker-compose.yml "$@"; }
timeout="${ROLLOUT_HEALTH_TIMEOUT:-180}"

old=$(dc ps -q api)
n=$(echo "$old" | grep -c . || true)
[ "$n" -gt 0 ] || { echo "no api replica runs: use 'docker compose up -d'" >&2; exit 1; }

dc run --rm migrate  # additive migrations: the old replicas keep working on the new schema
dc up -d --no-deps --no-recreate --scale "api=$((2 * n))" api
new=$(dc ps -q api | grep -v -F "$old" || true)

deadline=$(( $(date +%s) + timeout ))
for c in $new; do
  until [ "$(docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "replica $c is not healthy after ${timeout}s: rolling back" >&2
      docker stop $new >/dev/null && docker rm $new >/dev/null
      dc exec nginx nginx -s reload
      exit 1
    fi
    sleep 3
  done
done
dc exec nginx nginx -s reload   # nginx resolves `api` again: old and new replicas
docker stop $old >/dev/null     # each drains its in-flight requests, then exits
docker rm $old >/dev/null
dc exec nginx nginx -s reload
echo "api: $n replica(s) replaced"
