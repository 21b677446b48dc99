#!/usr/bin/env python3
"""The Python half of deploy/check-static: structural checks of the deployment files.

    python3 deploy/check_static.py CHECK      (CHECK: compose, k8s, dockerfile, runtime-libs,
                                               systemd, test-bounds)

Each check prints its findings, then one summary line last; it exits 0 (passed) or
1 (failed, including "could not check": nothing is skipped). deploy/check-static runs them inside its
venv (PyYAML, jsonschema, pyelftools) and prints one line per check.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
COMPOSE_SCHEMA = DEPLOY / "schemas" / "compose-spec.json"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"

EXECUTABLES = ["gateway", "user-service", "movie-service", "watchlist-service"]
SERVICES = {  # name -> (port, database, role)
    "user-service": (8001, "userdb", "user"),
    "movie-service": (8002, "moviedb", "movie"),
    "watchlist-service": (8003, "watchlistdb", "watchlist"),
}
DATABASES = {"user-db": ("user", "userdb"), "movie-db": ("movie", "moviedb"),
             "watchlist-db": ("watchlist", "watchlistdb")}

PASS, FAIL = 0, 1


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def require(self, condition: object, message: str) -> bool:
        if not condition:
            self.problems.append(message)
        return bool(condition)

    def finish(self, summary: str) -> int:
        for problem in self.problems:
            print(f"  - {problem}")
        if self.problems:
            print(f"{len(self.problems)} problem(s)")
            return FAIL
        print(summary)
        return PASS


# ---------------------------------------------------------------------------------------
# Compose

def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


VAR_RE = re.compile(r"\$(?:(?P<esc>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
BRACED_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


def interpolate(value: object, env: dict[str, str], report: Report, where: str,
                used: set[str]) -> object:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err},
    ${VAR:+alt}, $VAR and $$ in every string value (keys are not interpolated)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, report, f"{where}.{k}", used) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, report, f"{where}[{i}]", used) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group("esc"):
            return "$"
        if match.group("named"):
            name = match.group("named")
            used.add(name)
            report.require(name in env, f"{where}: ${name} is not set by {ENV_EXAMPLE.name}")
            return env.get(name, "")
        parsed = BRACED_RE.match(match.group("braced"))
        if not parsed:
            report.require(False, f"{where}: malformed interpolation ${{{match.group('braced')}}}")
            return ""
        name, op, arg = parsed.group("name"), parsed.group("op"), parsed.group("arg") or ""
        used.add(name)
        current = env.get(name)
        if op is None:
            report.require(current is not None, f"{where}: ${{{name}}} has no default and is not "
                                                f"set by {ENV_EXAMPLE.name}")
            return current or ""
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in (":?", "?"):
            report.require(current if op == ":?" else current is not None,
                           f"{where}: required ${{{name}}} is not set by {ENV_EXAMPLE.name}")
            return current or ""
        if op == ":+":
            return arg if current else ""
        return arg if current is not None else ""  # "+"

    return VAR_RE.sub(substitute, value)


def env_map(environment: object) -> dict[str, str]:
    if isinstance(environment, dict):
        return {str(k): "" if v is None else str(v) for k, v in environment.items()}
    result: dict[str, str] = {}
    for item in environment or []:
        key, _, value = str(item).partition("=")
        result[key] = value
    return result


def dockerfile_has_healthcheck() -> bool:
    stages = parse_dockerfile(DOCKERFILE.read_text())[1]
    return bool(stages) and any(i == "HEALTHCHECK" and not a.strip().upper().startswith("NONE")
                                for i, a in stages[-1]["instructions"])


def check_compose() -> int:
    import jsonschema

    report = Report()
    raw = yaml.safe_load(COMPOSE.read_text())
    env = read_env_file(ENV_EXAMPLE)
    used: set[str] = set()
    doc = interpolate(raw, env, report, "compose", used)

    # 1. The Compose specification's own JSON schema (vendored from check-jsonschema).
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        path = "/".join(str(p) for p in error.absolute_path) or "(top)"
        report.require(False, f"schema: {path}: {error.message}")

    services = doc.get("services") or {}
    raw_services = raw.get("services") or {}
    networks = doc.get("networks") or {}
    volumes = doc.get("volumes") or {}
    expected = set(SERVICES) | set(DATABASES) | {"redis", "gateway"}
    report.require(set(services) == expected,
                   f"services are {sorted(services)}, expected the seed's {sorted(expected)}")

    healthy_by_image = dockerfile_has_healthcheck()
    for name, svc in services.items():
        report.require(svc.get("container_name") == name,
                      f"{name}: container_name must be '{name}' (the seed's docker exec names)")
        if name != "gateway":
            report.require(not svc.get("ports"), f"{name}: publishes ports; only the gateway may")
            for net in svc.get("networks") or ["default"]:
                report.require((networks.get(net) or {}).get("internal") is True,
                               f"{name}: network '{net}' is not internal")
        for dep, cond in (svc.get("depends_on") or {}).items() if isinstance(
                svc.get("depends_on"), dict) else []:
            report.require((cond or {}).get("condition") == "service_healthy",
                           f"{name}: depends_on {dep} without condition: service_healthy")
            target = services.get(dep) or {}
            has_check = "healthcheck" in target or ("build" in target and healthy_by_image)
            report.require(has_check, f"{name}: depends on {dep}, which has no health check")
        if isinstance(svc.get("depends_on"), list):
            report.require(False, f"{name}: depends_on must be a map with conditions")

    for name, (user, db) in DATABASES.items():
        svc = services.get(name) or {}
        report.require(str(svc.get("image", "")).startswith("postgres:15"), f"{name}: image must be postgres:15")
        penv = env_map(svc.get("environment"))
        report.require(penv.get("POSTGRES_USER") == user and penv.get("POSTGRES_DB") == db,
                       f"{name}: POSTGRES_USER/POSTGRES_DB must be {user}/{db}")
        raw_pw = env_map((raw_services.get(name) or {}).get("environment")).get("POSTGRES_PASSWORD", "")
        report.require(raw_pw.startswith("${"), f"{name}: POSTGRES_PASSWORD must come from the env file")
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
        report.require("pg_isready" in test, f"{name}: health check must use pg_isready")
        mounts = [str(v) for v in svc.get("volumes") or []]
        named = [m.split(":")[0] for m in mounts if m.endswith(":/var/lib/postgresql/data")]
        report.require(named and named[0] in volumes, f"{name}: data must be on a named volume")

    redis = services.get("redis") or {}
    report.require(str(redis.get("image", "")).startswith("redis:7"), "redis: image must be redis:7")
    report.require("healthcheck" in redis, "redis: needs a health check")

    for name in list(SERVICES) + ["gateway"]:
        svc = services.get(name) or {}
        senv = env_map(svc.get("environment"))
        raw_env = env_map((raw_services.get(name) or {}).get("environment"))
        report.require(senv.get("AUTH_REQUIRED") == "true", f"{name}: AUTH_REQUIRED must be true")
        report.require(senv.get("HOST") == "0.0.0.0", f"{name}: HOST must be 0.0.0.0 in a container")
        report.require(raw_env.get("AUTH_SECRET", "").startswith("${"),
                       f"{name}: AUTH_SECRET must come from the env file")
        command = svc.get("command")
        command = shlex.split(command) if isinstance(command, str) else command or []
        report.require(command[:1] == [name], f"{name}: command must start with '{name}'")
        if name in SERVICES:
            port, db, user = SERVICES[name]
            report.require(senv.get("PORT") == str(port), f"{name}: PORT must be {port}")
            url = senv.get("DATABASE_URL", "")
            report.require(re.fullmatch(rf"postgresql://{user}:[^@]+@[\w.-]+:5432/{db}", url),
                           f"{name}: DATABASE_URL must reach {db} as {user}")

    gateway = services.get("gateway") or {}
    ports = " ".join(str(p) for p in gateway.get("ports") or [])
    report.require(":8080" in ports and ":8443" in ports, "gateway: must publish 8080 and 8443")
    report.require(any(not (networks.get(n) or {}).get("internal") for n in gateway.get("networks") or []),
                   "gateway: needs a non-internal network to publish its ports")
    genv = env_map(gateway.get("environment"))
    mounts = [str(v) for v in gateway.get("volumes") or []]
    cert_dirs = [m.split(":")[1] for m in mounts if m.count(":") >= 1]
    for key in ("TLS_CERT", "TLS_KEY"):
        report.require(any(genv.get(key, "").startswith(d.rstrip("/") + "/") for d in cert_dirs),
                       f"gateway: {key} must point into a mounted certificate folder")
    report.require(genv.get("HTTP_MODE") in ("serve", "redirect", "health-only"),
                   "gateway: HTTP_MODE must be serve, redirect or health-only")
    for key in ("USER_SERVICE_URL", "MOVIE_SERVICE_URL", "WATCHLIST_SERVICE_URL"):
        report.require(key in genv, f"gateway: {key} missing")
    # Plain HTTP reaches the network only as a redirect to HTTPS; HSTS on by default.
    http_port = next((str(p) for p in gateway.get("ports") or [] if str(p).endswith(":8080")), "")
    report.require(http_port.startswith("127.0.0.1:") or genv.get("HTTP_MODE") == "redirect",
                   "gateway: plain HTTP 8080 must be published on loopback or redirect to HTTPS")
    report.require(int(genv.get("HSTS", "0") or 0) > 0, "gateway: HSTS must be on by default")
    for name in list(SERVICES) + ["gateway"]:
        report.require("ADMIN_EMAILS" not in env_map((services.get(name) or {}).get("environment")),
                       f"{name}: ADMIN_EMAILS was replaced by the role column")
    uenv = env_map((services.get("user-service") or {}).get("environment"))
    report.require(bool(uenv.get("LOGIN_TRUSTED_PROXIES")), "user-service: LOGIN_TRUSTED_PROXIES must name the gateway")
    # Fixed backend addresses for every container, and the services find each other through
    # extra_hosts (/etc/hosts), not the engine's DNS server (podman 4.3's leaves a restarted
    # container's name unanswered for ~30 s).
    backend_ipam = (networks.get("backend") or {}).get("ipam") or {}
    subnets = [str(c.get("subnet", "")) for c in backend_ipam.get("config") or []]
    addresses: dict[str, str] = {}
    for name, svc in services.items():
        nets = svc.get("networks")
        if isinstance(nets, list) and "backend" in nets or isinstance(nets, dict) and "backend" in nets:
            backend = (nets.get("backend") or {}) if isinstance(nets, dict) else {}
            address = str(backend.get("ipv4_address", ""))
            try:
                placed = any(ipaddress.ip_address(address) in ipaddress.ip_network(net) for net in subnets)
            except ValueError:
                placed = False
            report.require(placed, f"{name}: needs a fixed backend ipv4_address inside the backend subnet {subnets}")
            addresses[name] = address
    report.require(len(set(addresses.values())) == len(addresses), f"backend addresses must differ: {addresses}")
    report.require(uenv.get("LOGIN_TRUSTED_PROXIES") == addresses.get("gateway"),
                   "user-service: LOGIN_TRUSTED_PROXIES must be the gateway's fixed backend address")
    peers = {name: address for name, address in addresses.items() if name != "gateway"}
    for name in list(SERVICES) + ["gateway"]:
        hosts = {}
        for entry in (services.get(name) or {}).get("extra_hosts") or []:
            host, _, address = str(entry).partition(":")
            hosts[host] = address
        report.require(hosts == peers, f"{name}: extra_hosts must map every backend peer to its fixed address "
                                       f"(found {hosts}, expected {peers})")
    report.require(bool(uenv.get("WATCHLIST_SERVICE_URL")), "user-service: WATCHLIST_SERVICE_URL (the deletion relay)")
    report.require(bool(env_map((services.get("movie-service") or {}).get("environment")).get("USER_SERVICE_URL")),
                   "movie-service: USER_SERVICE_URL (admin tokens are confirmed there)")

    unused = sorted(set(env) - used)
    report.require(not unused, f"{ENV_EXAMPLE.name} sets variables compose.yaml never uses: {unused}")
    return report.finish(f"compose.yaml: compose-spec schema + seed layout ({len(services)} services, "
                         f"{len(used)} variables from env.example)")


# ---------------------------------------------------------------------------------------
# Kubernetes

def k8s_documents() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path, doc))
    return docs


def check_k8s() -> int:
    report = Report()
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization.get("resources") or []
    # The example Secrets are documentation: applying the kustomization must never create
    # (or overwrite) a Secret.
    files = sorted(p.name for p in K8S.glob("*.yaml")
                   if p.name != "kustomization.yaml" and not p.name.endswith(".example.yaml"))
    report.require(sorted(listed) == files,
                   f"kustomization resources {sorted(listed)} differ from the non-example files {files}")
    for name in listed:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            report.require(not doc or doc.get("kind") != "Secret",
                           f"{name}: the kustomization must not create Secrets")

    docs = k8s_documents()
    by_kind: dict[str, dict[str, dict]] = {}
    for path, doc in docs:
        by_kind.setdefault(doc.get("kind", "?"), {})[doc["metadata"]["name"]] = doc
        if doc.get("kind") == "Secret":
            report.require("example" in path.name and "example" in yaml.safe_dump(doc).lower(),
                           f"{path.name}: Secrets here must be clearly marked example-only")

    deployments = by_kind.get("Deployment", {})
    report.require(set(deployments) == set(SERVICES) | {"gateway"},
                   f"Deployments are {sorted(deployments)}, expected the three services and the gateway")
    pdb_targets = {json.dumps(d["spec"]["selector"], sort_keys=True) for d in by_kind.get(
        "PodDisruptionBudget", {}).values()}
    hpa_targets = {d["spec"]["scaleTargetRef"]["name"] for d in by_kind.get(
        "HorizontalPodAutoscaler", {}).values()}
    services = by_kind.get("Service", {})
    for name, dep in deployments.items():
        spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
        labels = dep["spec"]["template"]["metadata"].get("labels", {})
        report.require(spec.get("replicas", 1) >= 2, f"{name}: needs several replicas")
        report.require(json.dumps(spec["selector"], sort_keys=True) in pdb_targets,
                       f"{name}: no PodDisruptionBudget selects it")
        report.require(name in hpa_targets, f"{name}: no HorizontalPodAutoscaler")
        svc = services.get(name)
        report.require(svc and all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()),
                       f"{name}: no Service selecting its pods")
        psc = pod.get("securityContext") or {}
        report.require(psc.get("runAsNonRoot") is True, f"{name}: pod must set runAsNonRoot")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            csc = c.get("securityContext") or {}
            report.require(csc.get("readOnlyRootFilesystem") is True, f"{where}: read-only root fs")
            report.require(csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation")
            report.require("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), f"{where}: drop ALL")
            # Readiness is the dependencies (/health); liveness the process alone (a service's
            # /health/live; the gateway's /health checks nothing else).
            live = "/health" if name == "gateway" else "/health/live"
            for probe, path in (("readinessProbe", "/health"), ("livenessProbe", live)):
                report.require(((c.get(probe) or {}).get("httpGet") or {}).get("path") == path,
                               f"{where}: {probe} must GET {path}")
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                report.require(all(k in (res.get(kind) or {}) for k in ("cpu", "memory")),
                               f"{where}: resources.{kind} needs cpu and memory")
            report.require((c.get("command") or [None])[0] == name, f"{where}: command must start with '{name}'")

    gateway_svc = services.get("gateway") or {}
    report.require(gateway_svc.get("spec", {}).get("type") == "LoadBalancer", "gateway Service must be a LoadBalancer")
    for name in SERVICES:
        report.require((services.get(name) or {}).get("spec", {}).get("type", "ClusterIP") == "ClusterIP",
                       f"{name}: Service must stay internal (ClusterIP)")
    tls = [s for s in by_kind.get("Secret", {}).values() if s.get("type") == "kubernetes.io/tls"]
    gw_pod = (deployments.get("gateway") or {}).get("spec", {}).get("template", {}).get("spec", {})
    mounted = {v.get("secret", {}).get("secretName") for v in gw_pod.get("volumes", [])}
    report.require(any(s["metadata"]["name"] in mounted for s in tls),
                   "gateway must mount a kubernetes.io/tls Secret")
    report.require("ConfigMap" in by_kind, "a ConfigMap is missing")
    config = next(iter(by_kind.get("ConfigMap", {}).values()), {}).get("data") or {}
    report.require("ADMIN_EMAILS" not in config, "ADMIN_EMAILS was replaced by the role column")
    report.require(bool(config.get("LOGIN_TRUSTED_PROXIES")), "LOGIN_TRUSTED_PROXIES must name the gateway pods")

    # Who may call whom: every call the services make must be allowed by some policy.
    policies = by_kind.get("NetworkPolicy", {}).values()

    def allowed(caller: str, target: str) -> bool:
        for policy in policies:
            if (policy["spec"].get("podSelector", {}).get("matchLabels") or {}).get(
                    "app.kubernetes.io/name") != target:
                continue
            for rule in policy["spec"].get("ingress") or []:
                for source in rule.get("from") or []:
                    if (source.get("podSelector", {}).get("matchLabels") or {}).get(
                            "app.kubernetes.io/name") == caller:
                        return True
        return False
    for caller, target in (("gateway", "user-service"), ("gateway", "movie-service"),
                           ("gateway", "watchlist-service"), ("watchlist-service", "user-service"),
                           ("watchlist-service", "movie-service"), ("movie-service", "user-service"),
                           ("user-service", "watchlist-service")):
        report.require(allowed(caller, target), f"network policy: {caller} cannot reach {target}")
    return report.finish(f"k8s: {len(docs)} objects in {len(files)} files, layout and security settings")


# ---------------------------------------------------------------------------------------
# Dockerfile

def parse_dockerfile(text: str) -> tuple[dict[str, str], list[dict]]:
    """Return (global ARG defaults, stages); each stage: image, name, instructions."""
    lines, buf = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        lines.append(buf + stripped)
        buf = ""
    if buf:
        lines.append(buf)
    args: dict[str, str] = {}
    stages: list[dict] = []
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append({"image": parts[0], "name": name, "instructions": []})
        elif not stages and instr == "ARG":
            key, _, value = rest.strip().partition("=")
            args[key] = value.strip().strip('"')
        elif stages:
            stages[-1]["instructions"].append((instr, rest))
    return args, stages


def resolve_image(image: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: args.get(m.group(1), ""), image)


def apt_packages(stage: dict) -> list[str]:
    packages: list[str] = []
    for instr, rest in stage["instructions"]:
        if instr != "RUN":
            continue
        tokens = shlex.split(rest.replace(";", " ; "))
        for i, tok in enumerate(tokens):
            if tok == "install" and i > 0 and tokens[i - 1] in ("apt-get", "apt"):
                for t in tokens[i + 1:]:
                    if t in ("&&", ";", "||", "|"):
                        break
                    if not t.startswith("-"):
                        packages.append(re.split(r"[=:]", t)[0])
    return packages


def check_dockerfile() -> int:
    report = Report()
    text = DOCKERFILE.read_text()
    args, stages = parse_dockerfile(text)
    report.require(len(stages) >= 2, "Dockerfile must be multi-stage (build + runtime)")
    names = {s["name"] for s in stages if s["name"]}
    codenames = []
    for stage in stages:
        image = resolve_image(stage["image"], args)
        if image in names or image == "scratch":
            continue
        # hadolint (DL3006/DL3007) judges a literal FROM; one through an ARG it sees as
        # `${NAME}` and lets pass, so the ARG's default is checked here.
        if "$" in stage["image"]:
            repo, _, tag = image.partition("@")[0].rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
            pinned = "@sha256:" in image or (tag and tag != "latest")
            report.require(pinned, f"FROM {stage['image']} (= {image}) is not pinned to a tag or digest")
        codenames.append(next((c for c in ("bookworm", "bullseye", "trixie", "jammy", "noble", "focal")
                               if c in image), None))
    report.require(len(set(codenames)) == 1 and codenames[0],
                   f"builder and runtime images must share one distribution release, got {codenames}")
    build, final = stages[0], stages[-1]
    run_text = " ".join(rest for instr, rest in build["instructions"] if instr == "RUN")
    report.require("--static-swift-stdlib" in run_text and "-c release" in run_text,
                   "the build stage must build with -c release --static-swift-stdlib")
    for product in EXECUTABLES:
        report.require(product in run_text, f"the build stage never builds {product}")
    # That a USER is set at all: hadolint judges its value (DL3002 root, DL3066 not numeric) but
    # not its absence.
    users = [rest.strip() for instr, rest in final["instructions"] if instr == "USER"]
    report.require(users, "the runtime stage must set a USER")
    report.require(any(i == "HEALTHCHECK" and not a.strip().upper().startswith("NONE")
                       for i, a in final["instructions"]), "the runtime stage needs a HEALTHCHECK")
    # Every COPY from the build context must exist and must not be excluded by .dockerignore.
    ignore_file = ROOT / ".dockerignore"
    ignored = [l.strip().rstrip("/") for l in (ignore_file.read_text().splitlines() if ignore_file.exists() else [])
               if l.strip() and not l.startswith("#")]
    for stage in stages:
        for instr, rest in stage["instructions"]:
            if instr not in ("COPY", "ADD") or "--from=" in rest:
                continue
            sources = [t for t in shlex.split(rest) if not t.startswith("--")][:-1]
            for src in sources:
                src = src.rstrip("/").removeprefix("./") or "."
                report.require((ROOT / src).exists(), f"{instr} {src}: no such file in the build context")
                hit = [p for p in ignored if not p.startswith("!") and (src == p or src.startswith(p + "/"))]
                report.require(not hit, f"{instr} {src}: excluded by .dockerignore ({hit})")
    packages = apt_packages(final)
    for needed in ("libpq5", "libhiredis0.14", "libssl3", "ca-certificates"):
        report.require(needed in packages, f"runtime stage does not install {needed}")
    return report.finish(f"Dockerfile: {len(stages)} stages pinned, USER {users[-1] if users else '?'}, "
                         f"HEALTHCHECK, static Swift stdlib; runtime packages: {' '.join(packages)}")


# ---------------------------------------------------------------------------------------
# Runtime libraries of the built binaries against the runtime stage's packages

# Packages of debian:bookworm-slim that are Priority: required (always present) and that
# the binaries may link without the Dockerfile naming them.
BASE_PACKAGES = {"libc6", "libgcc-s1"}
SWIFT_RUNTIME = re.compile(r"^lib(swift|Foundation|_Foundation|_FoundationICU|dispatch|BlocksRuntime|XCTest)")


def dpkg_owner(path: str) -> str | None:
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/lib"):
            candidates.append("/usr" + p)
        elif p.startswith("/usr/lib"):
            candidates.append(p[4:])
    for candidate in dict.fromkeys(candidates):
        out = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            if ":" in line and not line.startswith("diversion"):
                return line.split(":")[0].split(",")[0].strip()
    return None


def dependency_closure(roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        pkg = todo.pop()
        if pkg in seen:
            continue
        seen.add(pkg)
        out = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", pkg],
                             capture_output=True, text=True)
        for clause in out.stdout.split(","):
            for alt in clause.split("|"):
                name = re.sub(r"\(.*?\)", "", alt).strip().split(":")[0]
                if name and name not in seen:
                    todo.append(name)
    return seen


def needed_libraries(binary: Path) -> tuple[list[str], str]:
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile
    from elftools.elf.gnuversions import GNUVerNeedSection

    needed: list[str] = []
    glibc = "0"
    with binary.open("rb") as f:
        elf = ELFFile(f)
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                needed += [t.needed for t in section.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
            if isinstance(section, GNUVerNeedSection):
                for _, auxes in section.iter_versions():
                    for aux in auxes:
                        m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", aux.name)
                        if m and tuple(map(int, m.group(1).split("."))) > tuple(map(int, glibc.split("."))):
                            glibc = m.group(1)
    return needed, glibc


def check_runtime_libs() -> int:
    report = Report()
    # The binaries that ship: the release build, as the image makes it.
    binaries = [ROOT / ".build" / "release" / exe for exe in EXECUTABLES]
    missing = [str(b.relative_to(ROOT)) for b in binaries if not b.is_file()]
    if missing:
        print(f"not built: {' '.join(missing)} (swift build -c release --static-swift-stdlib --product NAME)")
        return FAIL
    if not shutil_which("dpkg") or not shutil_which("ldd"):
        print("dpkg or ldd missing: not a Debian host")
        return FAIL
    args, stages = parse_dockerfile(DOCKERFILE.read_text())
    installed = set(apt_packages(stages[-1]))
    static_stdlib = "--static-swift-stdlib" in DOCKERFILE.read_text()
    provided = dependency_closure(installed | BASE_PACKAGES)
    seen_packages: set[str] = set()
    direct_packages: set[str] = set()
    max_glibc = "0"
    for binary in binaries:
        rel = binary.relative_to(ROOT)
        needed, glibc = needed_libraries(binary)
        if tuple(map(int, glibc.split("."))) > tuple(map(int, max_glibc.split("."))):
            max_glibc = glibc
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        report.require(out.returncode == 0, f"{rel}: ldd failed: {out.stderr.strip()}")
        for line in out.stdout.splitlines():
            line = line.strip()
            m = re.match(r"^(\S+)\s+=>\s+(\S+)", line) or re.match(r"^(/\S+)\s+\(", line)
            if not m:
                continue
            soname = os.path.basename(m.group(1))
            path = m.group(2) if m.lastindex == 2 else m.group(1)
            if soname.startswith("linux-vdso") or path.startswith("linux-vdso"):
                continue
            direct = soname in needed
            if path == "not":
                report.require(False, f"{rel}: {soname} not found on this machine")
                continue
            if SWIFT_RUNTIME.match(soname) or "/lib/swift/" in path:
                report.require(static_stdlib, f"{rel}: links the Swift runtime ({soname}) dynamically and "
                                              "the image neither builds with --static-swift-stdlib nor copies it")
                continue
            pkg = dpkg_owner(path)
            if not report.require(pkg, f"{rel}: {soname} ({path}) belongs to no Debian package"):
                continue
            seen_packages.add(pkg)
            if direct:
                direct_packages.add(pkg)
                report.require(pkg in installed or pkg in BASE_PACKAGES,
                               f"{rel}: links {soname} directly; its package {pkg} is not in the runtime "
                               "stage's apt-get install list")
            else:
                report.require(pkg in provided, f"{rel}: needs {soname} (package {pkg}) indirectly, and no "
                                                "package of the runtime stage depends on it")
    # bookworm's glibc is 2.36: a binary that asks for a newer one would not start there.
    report.require(tuple(map(int, max_glibc.split("."))) <= (2, 36),
                   f"binaries require GLIBC_{max_glibc}, newer than bookworm's 2.36")
    unused = sorted(installed - seen_packages - {"ca-certificates"})
    if unused:
        print(f"  note: installed but linked by no local binary: {' '.join(unused)}")
    print(f"  binaries: {' '.join(str(b.relative_to(ROOT)) for b in binaries)}")
    print(f"  packages linked (with dependencies): {' '.join(sorted(seen_packages))}")
    return report.finish(f"{len(binaries)} binaries link {' '.join(sorted(direct_packages))} directly; "
                         f"runtime stage provides all (Swift runtime "
                         f"{'static' if static_stdlib else 'NOT static'}, needs GLIBC {max_glibc})")


def shutil_which(name: str) -> str | None:
    from shutil import which
    return which(name)


# ---------------------------------------------------------------------------------------
# systemd units (content; deploy/check-static runs systemd-analyze verify separately)

def check_systemd() -> int:
    report = Report()
    units = sorted(SYSTEMD.glob("marquee-*.service"))
    names = {u.name for u in units}
    expected = {f"marquee-{e}.service" for e in EXECUTABLES}
    report.require(names == expected, f"units are {sorted(names)}, expected {sorted(expected)}")
    for unit in units:
        text = unit.read_text()
        exe = unit.name[len("marquee-"):-len(".service")]
        keys = {}
        for line in text.splitlines():
            if "=" in line and not line.lstrip().startswith(("#", ";")):
                k, _, v = line.partition("=")
                keys.setdefault(k.strip(), []).append(v.strip())
        def has(key: str, value: str | None = None) -> bool:
            return key in keys and (value is None or value in keys[key])
        report.require(has("ExecStart", f"/usr/local/bin/{exe}"), f"{unit.name}: ExecStart must run {exe}")
        report.require(has("EnvironmentFile", f"/etc/marquee/{exe}.env"),
                       f"{unit.name}: EnvironmentFile=/etc/marquee/{exe}.env")
        report.require(has("DynamicUser", "yes") or has("User", "marquee"), f"{unit.name}: DynamicUser or User=marquee")
        for key, value in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                           ("ProtectHome", "yes"), ("PrivateDevices", "yes"), ("RestrictAddressFamilies", None)):
            report.require(has(key, value), f"{unit.name}: {key}{'=' + value if value else ''} missing")
        if exe == "gateway":
            report.require(has("ExecReload", "/bin/kill -HUP $MAINPID"),
                           f"{unit.name}: ExecReload=/bin/kill -HUP $MAINPID (certificate reload)")
    return report.finish(f"systemd: {len(units)} units with EnvironmentFile, user and hardening")


# ---------------------------------------------------------------------------------------
# Every Swift Testing suite under Tests/ is bounded

SUITE_RE = re.compile(r"^\s*@Suite\b", re.M)
FREE_TEST_RE = re.compile(r"^@Test\b", re.M)


def attribute_arguments(text: str, end: int) -> str:
    """The parenthesized arguments right after an attribute ending at `end` (over any number
    of lines; parentheses inside them balanced), or "" when there are none."""
    if end >= len(text) or text[end] != "(":
        return ""
    depth = 0
    for i in range(end, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[end:i + 1]
    return text[end:]


def check_test_bounds() -> int:
    report = Report()
    files = sorted((ROOT / "Tests").rglob("*.swift"))
    suites = 0
    for path in files:
        text = path.read_text()
        rel = path.relative_to(ROOT)
        for match in SUITE_RE.finditer(text):
            suites += 1
            line = text.count("\n", 0, match.start()) + 1
            report.require(".timeLimit(" in attribute_arguments(text, match.end()),
                           f"{rel}:{line}: @Suite without .timeLimit(.minutes(N))")
        # A @Test outside any suite (at column 0) needs its own bound.
        for match in FREE_TEST_RE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            report.require(".timeLimit(" in attribute_arguments(text, match.end()),
                           f"{rel}:{line}: @Test outside a suite without .timeLimit(.minutes(N))")
    report.require(suites > 0, "no @Suite found under Tests/")
    return report.finish(f"test-bounds: {suites} suites in {len(files)} files, each with a .timeLimit")


CHECKS = {"compose": check_compose, "k8s": check_k8s, "dockerfile": check_dockerfile,
          "runtime-libs": check_runtime_libs, "systemd": check_systemd, "test-bounds": check_test_bounds}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        print(f"usage: {sys.argv[0]} {{{','.join(CHECKS)}}}", file=sys.stderr)
        sys.exit(2)
    sys.exit(CHECKS[sys.argv[1]]())
