#!/bin/sh
# Deploy $IMAGE to the cluster in $KUBECONFIG_DATA (base64 kubeconfig), namespace cerflow,
# for the stage named in $1. Order: migrate (Job, waits), roll out every Deployment, wait
# for readiness; on any failure, undo the rollouts so the previous release serves again.
set -eu
stage="${1:?usage: deploy.sh staging|production}"
: "${IMAGE:?set IMAGE}" "${KUBECONFIG_DATA:?set KUBECONFIG_DATA}"
export KUBECONFIG="$(mktemp)"
trap 'rm -f "$KUBECONFIG"' EXIT
printf '%s' "$KUBECONFIG_DATA" | base64 -d > "$KUBECONFIG"
ns=cerflow
deployments="cerflow-api cerflow-worker-ingest cerflow-worker-analysis cerflow-worker-reports cerflow-beat"

echo "deploying $IMAGE to $stage"
cd deploy/k8s
kustomize edit set image "cerflow=$IMAGE"
kubectl -n "$ns" delete job cerflow-migrate --ignore-not-found
kubectl apply -k .
kubectl -n "$ns" wait --for=condition=complete job/cerflow-migrate --timeout=10m

rollback() {
  echo "rollout failed: undoing" >&2
  for d in $deployments; do kubectl -n "$ns" rollout undo "deploy/$d" || true; done
  for d in $deployments; do kubectl -n "$ns" rollout status "deploy/$d" --timeout=10m || true; done
  exit 1
}
for d in $deployments; do
  kubectl -n "$ns" rollout status "deploy/$d" --timeout=10m || rollback
done
# Readiness from inside an API pod (database up, schema at this release's revision); the
# NetworkPolicies let no other pod of the namespace reach the API.
kubectl -n "$ns" exec deploy/cerflow-api -- python -c \
  "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/health/ready', timeout=10).read().decode())" \
  || rollback
echo "$stage: $IMAGE is live"
