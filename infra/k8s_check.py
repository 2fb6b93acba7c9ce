"""What a schema cannot see in rendered Kubernetes manifests: that every
selector is non-empty and selects the hosts' pods, that probes hit Folio's
health and readiness routes on a declared port, that the HPA scales the
Deployment on CPU (and event-log lag), and that every Secret the pods read is rendered (or named as
made outside the manifests).

    python k8s_check.py FILE [--external-secret NAME ...]
"""

import argparse
import sys

import yaml


def fail(errors, where, message):
    errors.append(f"{where}: {message}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--external-secret", action="append", default=[])
    args = parser.parse_args()
    with open(args.file) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    errors = []
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployments = by_kind.get("Deployment", [])
    if not deployments:
        fail(errors, args.file, "no Deployment")
    secrets = {d["metadata"]["name"] for d in by_kind.get("Secret", [])}
    secrets.update(args.external_secret)
    pod_labels = []

    for dep in deployments:
        name = f"Deployment/{dep['metadata']['name']}"
        spec = dep["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        pod_labels.append(labels)
        selector = spec["selector"].get("matchLabels", {})
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            fail(errors, name, f"selector {selector} does not select its pods {labels}")
        pod = spec["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "secret" in v and v["secret"]["secretName"] not in secrets:
                fail(errors, name, f"volume {v['name']}: Secret {v['secret']['secretName']} is not rendered")
        for c in pod["containers"]:
            ports = {p["name"] for p in c.get("ports", [])}
            for probe, path in [("readinessProbe", "/_folio/ready"), ("livenessProbe", "/_folio/health")]:
                get = c.get(probe, {}).get("httpGet", {})
                if get.get("path") != path:
                    fail(errors, name, f"{probe} must GET {path}, not {get.get('path')}")
                if get.get("port") not in ports:
                    fail(errors, name, f"{probe} port {get.get('port')} is not a declared port {ports}")
            for source in c.get("envFrom", []):
                ref = source.get("secretRef", {}).get("name")
                if ref and ref not in secrets:
                    fail(errors, name, f"envFrom: Secret {ref} is not rendered")
            a = c.get("args", [])
            if a[:1] != ["up"]:
                fail(errors, name, f"the container must run `folio up`, not {a}")
            if "--runtime-config" in a:
                config = a[a.index("--runtime-config") + 1]
                mounted = [
                    m for m in c.get("volumeMounts", [])
                    if config.startswith(m["mountPath"].rstrip("/") + "/")
                    and "secret" in volumes.get(m["name"], {})
                ]
                if not mounted:
                    fail(errors, name, f"--runtime-config {config} is not on a mounted Secret")

    def selects_hosts(selector):
        return selector and any(all(l.get(k) == v for k, v in selector.items()) for l in pod_labels)

    for svc in by_kind.get("Service", []):
        if not selects_hosts(svc["spec"].get("selector", {})):
            fail(errors, f"Service/{svc['metadata']['name']}", "its selector selects no host pods")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selects_hosts(pdb["spec"].get("selector", {}).get("matchLabels", {})):
            fail(errors, f"PodDisruptionBudget/{pdb['metadata']['name']}", "its selector selects no host pods (an empty one selects every pod)")
    names = {d["metadata"]["name"] for d in deployments}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        spec = hpa["spec"]
        target = spec["scaleTargetRef"]
        where = f"HorizontalPodAutoscaler/{hpa['metadata']['name']}"
        if target["kind"] != "Deployment" or target["name"] not in names:
            fail(errors, where, f"scales {target}, which is not a rendered Deployment")
        if spec.get("minReplicas", 1) > spec["maxReplicas"]:
            fail(errors, where, "minReplicas is above maxReplicas")
        metrics = {
            m.get("resource", m.get("pods", {})).get("name") or m["pods"]["metric"]["name"]
            for m in spec.get("metrics", [])
        }
        if not metrics <= {"cpu", "folio_event_lag_seconds"} or "cpu" not in metrics:
            fail(errors, where, f"scales on {metrics}: CPU, and optionally event-log lag")

    for e in errors:
        print(f"ERROR {e}")
    print(f"{args.file}: {len(docs)} objects, {len(errors)} problems")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
