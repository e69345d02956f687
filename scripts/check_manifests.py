"""Cross-checks of rendered Kubernetes manifests that no validator does (called by
scripts/check-deploy with the rendered overlay on stdin and the binaries' --help texts):

- every container of every workload (Deployment, StatefulSet, DaemonSet, Job, CronJob; init
  containers too) runs either an image of docker/images.txt or a third-party image pinned to a
  version (a tag other than `latest`, or a digest); every image of docker/images.txt has a
  workload;
- every environment variable a cinerec container sets (its ConfigMaps' keys, its env entries)
  is one its binary reads (the `[env: NAME=…]` names of its `--help`, or of its subcommand's
  when the container's first argument is one);
- (cinerec Deployments) every probe and Service target port is a container port, and the API
  and metrics container ports are the ones CINEREC_LISTEN and CINEREC_METRICS_LISTEN bind;
  every Service selects a Deployment or StatefulSet of its name that names its target ports;
- every Secret and ConfigMap a workload references is in the overlay or documented in
  k8s/README.md as provided by the operator.
Prints what it checked; exits 1 naming each violation.
"""
import json
import re
import sys

import yaml

overlay, helps_file, images_file, readme = sys.argv[1:5]
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
helps = json.load(open(helps_file))  # "image" or "image subcommand" -> list of env names
images = {line.split()[0] for line in open(images_file) if line.strip() and not line.startswith("#")}
documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", open(readme).read(), re.M))
violations = []
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
configmaps = by_kind.get("ConfigMap", {})
secrets = set(by_kind.get("Secret", {}))


def pod_spec(kind, d):
    if kind == "CronJob":
        return d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return d["spec"]["template"]["spec"]


def secret_known(name):
    return name in secrets or name in documented


def check_refs(what, verb, secret=None, configmap=None):
    """Records a referenced Secret that is neither in the overlay nor documented, and a
    referenced ConfigMap the overlay lacks."""
    if secret and not secret_known(secret):
        violations.append(f"{overlay}: {what} {verb} Secret {secret}, neither in the overlay nor in k8s/README.md")
    if configmap and configmap not in configmaps:
        violations.append(f"{overlay}: {what} {verb} ConfigMap {configmap}, which the overlay lacks")


workloads = [
    (name, kind, pod_spec(kind, d))
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
    for name, d in by_kind.get(kind, {}).items()
]
checked_env = 0
third_party = set()
with_workload = set()
for name, kind, spec in sorted(workloads):
    for volume in spec.get("volumes", []):
        check_refs(f"{kind} {name}", "mounts", volume.get("secret", {}).get("secretName"), volume.get("configMap", {}).get("name"))
    containers = [(c, True) for c in spec.get("initContainers", [])] + [(c, False) for c in spec["containers"]]
    for c, init in containers:
        what = f"{kind} {name}{' init container' if init else ''} {c['name']}"
        reference = c["image"]
        image = reference.split("/")[-1].split(":")[0].split("@")[0]
        env = {}
        for ref in c.get("envFrom", []):
            cm = ref.get("configMapRef", {}).get("name")
            check_refs(what, "reads", ref.get("secretRef", {}).get("name"), cm)
            env.update(configmaps.get(cm, {}).get("data", {}))
        for e in c.get("env", []):
            env[e["name"]] = e.get("value")
            value_from = e.get("valueFrom", {})
            check_refs(what, "reads", value_from.get("secretKeyRef", {}).get("name"), value_from.get("configMapKeyRef", {}).get("name"))
        if image not in images:
            tag = reference.rsplit("/", 1)[-1]
            pinned = "@sha256:" in reference or (":" in tag and not tag.endswith(":latest"))
            if not pinned:
                violations.append(f"{overlay}: {what} runs {reference}, a third-party image without a version")
            third_party.add(reference)
            continue
        with_workload.add(image)
        args = c.get("args", [])
        binary = f"{image} {args[0]}" if args and f"{image} {args[0]}" in helps else image
        reads = set(helps.get(binary, []))
        for var in sorted(env):
            checked_env += 1
            if var not in reads:
                violations.append(f"{overlay}: {what} sets {var}, which `{binary}` does not read")
        if kind != "Deployment" or init:
            print(f"   {what}: `{binary}`, {len(env)} variables checked")
            continue
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for var, port_name in (("CINEREC_LISTEN", "api"), ("CINEREC_METRICS_LISTEN", "metrics")):
            bound = str(env.get(var, "")).rsplit(":", 1)[-1]
            if port_name not in ports or str(ports[port_name]) != bound:
                violations.append(f"{overlay}: {what}: container port {port_name} {ports.get(port_name)} is not where {var}={env.get(var)} listens")
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = c.get(probe_name, {})
            port = (probe.get("grpc") or probe.get("httpGet") or {}).get("port")
            if port is None:
                violations.append(f"{overlay}: {what} has no {probe_name}")
            elif port not in ports and port not in ports.values():
                violations.append(f"{overlay}: {what}: {probe_name} port {port} is not a container port")
        print(f"   {what}: `{binary}`, {len(env)} variables, ports and probes checked")
for image in sorted(images - with_workload):
    violations.append(f"{overlay}: image {image} has no workload")
for name, svc in sorted(by_kind.get("Service", {}).items()):
    target = by_kind.get("Deployment", {}).get(name) or by_kind.get("StatefulSet", {}).get(name)
    if target is None:
        violations.append(f"{overlay}: Service {name} selects no Deployment or StatefulSet of that name")
        continue
    ports = {p["name"] for c in target["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    for p in svc["spec"]["ports"]:
        if p["targetPort"] not in ports:
            violations.append(f"{overlay}: Service {name} targets port {p['targetPort']}, which its pods do not name")
for name, ing in sorted(by_kind.get("Ingress", {}).items()):
    for tls in ing["spec"].get("tls", []):
        check_refs(f"Ingress {name}", "uses", tls["secretName"])
for v in violations:
    print(f"  VIOLATION: {v}", file=sys.stderr)
print(f"   third-party images, each pinned to a version: {', '.join(sorted(third_party)) or 'none'}")
counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
print(f"   {overlay}: {len(docs)} objects ({counts}); {checked_env} variables checked against the binaries")
sys.exit(1 if violations else 0)
