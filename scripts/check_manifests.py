"""Cross-checks of rendered Kubernetes manifests that no validator does (called by
scripts/check-deploy with the rendered overlay on stdin and the binaries' --help texts):

- every workload's (Deployment, CronJob) image is one of docker/images.txt, and every image of
  docker/images.txt has a workload;
- every environment variable a workload sets (its ConfigMap's keys, its env entries) is one its
  binary reads (the `[env: NAME=…]` names of its `--help`);
- (Deployments) every probe and Service target port is a container port, and the API and
  metrics container ports are the ones CINEREC_LISTEN and CINEREC_METRICS_LISTEN bind;
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
helps = json.load(open(helps_file))  # image -> list of env names
images = {line.split()[0] for line in open(images_file) if line.strip() and not line.startswith("#")}
documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", open(readme).read(), re.M))
violations = []
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
configmaps = by_kind.get("ConfigMap", {})
secrets = set(by_kind.get("Secret", {}))
checked_env = 0
workloads = [(name, "Deployment", d["spec"]["template"]["spec"]) for name, d in by_kind.get("Deployment", {}).items()]
workloads += [(name, "CronJob", d["spec"]["jobTemplate"]["spec"]["template"]["spec"]) for name, d in by_kind.get("CronJob", {}).items()]
with_workload = set()
for name, kind, spec in sorted(workloads):
    for c in spec["containers"]:
        image = c["image"].split("/")[-1].split(":")[0].split("@")[0]
        if image not in images:
            violations.append(f"{overlay}: {kind} {name} runs image {image}, not one of docker/images.txt")
            continue
        with_workload.add(image)
        reads = set(helps.get(image, []))
        env = {}
        for ref in c.get("envFrom", []):
            cm = ref.get("configMapRef", {}).get("name")
            if cm:
                if cm not in configmaps:
                    violations.append(f"{overlay}: {kind} {name} reads ConfigMap {cm}, which the overlay lacks")
                else:
                    env.update(configmaps[cm].get("data", {}))
            sec = ref.get("secretRef", {}).get("name")
            if sec and sec not in secrets and sec not in documented:
                violations.append(f"{overlay}: {kind} {name} reads Secret {sec}, neither in the overlay nor in k8s/README.md")
        for e in c.get("env", []):
            env[e["name"]] = e.get("value")
            sec = e.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
            if sec and sec not in secrets and sec not in documented:
                violations.append(f"{overlay}: {kind} {name} reads Secret {sec}, neither in the overlay nor in k8s/README.md")
        for var in sorted(env):
            checked_env += 1
            if var not in reads:
                violations.append(f"{overlay}: {kind} {name} sets {var}, which {image} does not read")
        if kind != "Deployment":
            print(f"   {kind} {name}: image and {len(env)} variables checked")
            continue
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for var, port_name in (("CINEREC_LISTEN", "api"), ("CINEREC_METRICS_LISTEN", "metrics")):
            bound = str(env.get(var, "")).rsplit(":", 1)[-1]
            if port_name not in ports or str(ports[port_name]) != bound:
                violations.append(f"{overlay}: Deployment {name}: container port {port_name} {ports.get(port_name)} is not where {var}={env.get(var)} listens")
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = c.get(probe_name, {})
            port = (probe.get("grpc") or probe.get("httpGet") or {}).get("port")
            if port is None:
                violations.append(f"{overlay}: Deployment {name} has no {probe_name}")
            elif port not in ports and port not in ports.values():
                violations.append(f"{overlay}: Deployment {name}: {probe_name} port {port} is not a container port")
        print(f"   {kind} {name}: image, {len(env)} variables, ports and probes checked")
for image in sorted(images - with_workload):
    violations.append(f"{overlay}: image {image} has no workload (Deployment or CronJob)")
for name, svc in sorted(by_kind.get("Service", {}).items()):
    dep = by_kind.get("Deployment", {}).get(name)
    if dep is None:
        violations.append(f"{overlay}: Service {name} selects no Deployment of that name")
        continue
    ports = {p["name"] for c in dep["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    for p in svc["spec"]["ports"]:
        if p["targetPort"] not in ports:
            violations.append(f"{overlay}: Service {name} targets port {p['targetPort']}, which its pods do not name")
for name, ing in sorted(by_kind.get("Ingress", {}).items()):
    for tls in ing["spec"].get("tls", []):
        if tls["secretName"] not in secrets and tls["secretName"] not in documented:
            violations.append(f"{overlay}: Ingress {name} uses Secret {tls['secretName']}, undocumented")
for v in violations:
    print(f"  VIOLATION: {v}", file=sys.stderr)
counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
print(f"   {overlay}: {len(docs)} objects ({counts}); {checked_env} variables checked against the binaries")
sys.exit(1 if violations else 0)
