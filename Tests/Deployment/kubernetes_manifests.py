#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests and prints what the worker must agree with.

  kubernetes_manifests.py RENDERED.yaml OUTDIR

Built-in kinds are validated against Kubernetes' schemas (kubernetes-validate, strict), KEDA's
against the schemas in Tests/Fixtures/kubernetes (jsonschema), the ServiceMonitor for what
Prometheus needs. Writes the ConfigMap's worker.yaml and console.yaml into OUTDIR and prints one
JSON object of facts for the Swift test to check against the worker itself. Exit 1 on the first
object that does not validate, naming it and the problem.
"""
import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.30.0"
rendered, out = sys.argv[1:]
fixtures = os.path.join(os.path.dirname(__file__), "..", "Fixtures", "kubernetes")
schemas = {
    "ScaledObject": json.load(open(os.path.join(fixtures, "keda-scaledobject.schema.json"))),
    "TriggerAuthentication": json.load(open(os.path.join(fixtures, "keda-triggerauthentication.schema.json"))),
}
objects = [doc for doc in yaml.safe_load_all(open(rendered)) if doc]


def fail(obj, problem):
    print(f"{obj['kind']}/{obj['metadata']['name']}: {problem}")
    sys.exit(1)


def one(kind, name_part):
    found = [o for o in objects if o["kind"] == kind and name_part in o["metadata"]["name"]]
    if len(found) != 1:
        print(f"expected one {kind} named like {name_part}, found {len(found)}")
        sys.exit(1)
    return found[0]


for obj in objects:
    kind = obj["kind"]
    if kind in schemas:
        errors = sorted(jsonschema.Draft202012Validator(schemas[kind]).iter_errors(obj), key=str)
        if errors:
            fail(obj, errors[0].message + " at " + "/".join(map(str, errors[0].absolute_path)))
    elif kind == "ServiceMonitor":
        pass  # checked below, against the Service it selects
    else:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            fail(obj, f"{error.message} at {'/'.join(map(str, error.path))}")
        except kubernetes_validate.SchemaNotFoundError:
            fail(obj, f"no Kubernetes {KUBERNETES_VERSION} schema for this kind")

worker = one("Deployment", "provisioner-worker")
console = one("Deployment", "provisioner-console")
scaled = one("ScaledObject", "provisioner-worker")
config = one("ConfigMap", "provisioner-config")
metrics_service = one("Service", "provisioner-worker-metrics")
monitor = one("ServiceMonitor", "provisioner-worker")

spec = scaled["spec"]
if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
    fail(scaled, "minReplicaCount must be less than or equal to maxReplicaCount (KEDA's rule)")
if spec["scaleTargetRef"]["name"] != worker["metadata"]["name"]:
    fail(scaled, f"scales {spec['scaleTargetRef']['name']}, not the worker Deployment")
selector = monitor["spec"]["selector"]["matchLabels"]
if any(metrics_service["metadata"].get("labels", {}).get(k) != v for k, v in selector.items()):
    fail(monitor, "its selector does not match the metrics Service's labels")
service_ports = {p["name"] for p in metrics_service["spec"]["ports"]}
for endpoint in monitor["spec"]["endpoints"]:
    if endpoint["port"] not in service_ports:
        fail(monitor, f"endpoint port {endpoint['port']} is not a port of the metrics Service")

for name in ("worker.yaml", "console.yaml"):
    with open(os.path.join(out, name), "w") as file:
        file.write(config["data"][name])


def container(deployment):
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def port_number(c, name):
    return next(p["containerPort"] for p in c["ports"] if p["name"] == name)


def probes(c):
    found = {}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            get = c[probe]["httpGet"]
            port = get["port"] if isinstance(get["port"], int) else port_number(c, get["port"])
            found[probe] = {"path": get["path"], "port": port}
    return found


worker_container, console_container = container(worker), container(console)
trigger = next(t for t in spec["triggers"] if t["type"] == "kafka")
print(json.dumps({
    "objects": sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects),
    "trigger": trigger["metadata"],
    "minReplicaCount": spec.get("minReplicaCount"),
    "maxReplicaCount": spec.get("maxReplicaCount"),
    "worker": {
        "args": worker_container["args"],
        "terminationGracePeriodSeconds": worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
        "probes": probes(worker_container),
        "metricsPort": port_number(worker_container, "metrics"),
        "env": sorted(e["name"] for e in worker_container.get("env", [])),
        "serviceMonitorPaths": sorted({e.get("path", "/metrics") for e in monitor["spec"]["endpoints"]}),
    },
    "console": {
        "args": console_container["args"],
        "probes": probes(console_container),
        "httpPort": port_number(console_container, "http"),
        "env": sorted(e["name"] for e in console_container.get("env", [])),
    },
}))
