"""Static checks of docker-compose.yml (the Spark standalone + MinIO cluster for users).

Docker does not run here, so these tests read the file the way `docker compose` would (``$$`` is a literal
``$``, ``${NAME:-default}`` takes its default) and check that the services fit together: names referenced
in URLs and ``depends_on`` exist, published ports line up with the ports the daemons listen on, and the
mounts and volumes are declared.
Over 400 lines: one static check per service and setting of the compose file, sharing its parsed form.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
MOUNT = "/opt/corpusforge"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"

# what compose accepts: `$$`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?err}`, `${NAME?err}`
_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str) -> str:
    """Compose's interpolation with an empty environment: defaults apply, ``$$`` becomes ``$``."""

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("op") in (":-", "-"):
            return match.group("arg")
        return ""

    return _INTERPOLATION.sub(one, text)


@pytest.fixture(scope="module")
def raw() -> str:
    assert COMPOSE.is_file(), f"{COMPOSE} is missing"
    return COMPOSE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(raw: str) -> dict:
    doc = yaml.safe_load(interpolate(raw))
    assert isinstance(doc, dict), "docker-compose.yml must be a mapping"
    return doc


@pytest.fixture(scope="module")
def services(compose: dict) -> dict[str, dict]:
    found = compose.get("services")
    assert isinstance(found, dict) and found, "no services"
    return found


def as_args(value) -> list[str]:
    """A command/entrypoint as a list of arguments (string form split on whitespace)."""
    if value is None:
        return []
    if isinstance(value, str):
        return value.split()
    return [str(v) for v in value]


def argv(service: dict) -> list[str]:
    return as_args(service.get("entrypoint")) + as_args(service.get("command"))


def option(args: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in an argument list."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def env(service: dict) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):
        value = dict(item.split("=", 1) if "=" in item else (item, "") for item in value)
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def depends_on(service: dict) -> dict[str, dict]:
    value = service.get("depends_on") or {}
    if isinstance(value, list):
        return {name: {} for name in value}
    return {name: spec or {} for name, spec in value.items()}


def published(service: dict) -> list[tuple[str, int, int, str]]:
    """(host ip, host port, container port, protocol) for each published port."""
    out = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            assert "published" in entry, f"long-syntax port without 'published': {entry}"
            out.append(
                (
                    str(entry.get("host_ip", "")),
                    int(entry["published"]),
                    int(entry["target"]),
                    entry.get("protocol", "tcp"),
                )
            )
            continue
        spec, _, proto = str(entry).partition("/")
        parts = spec.rsplit(":", 2)
        assert len(parts) >= 2, f"port {entry!r} does not publish a host port"
        assert all(p.isdigit() for p in parts[-2:]), f"unsupported port syntax {entry!r} (ranges?)"
        host_ip = parts[0].strip("[]") if len(parts) == 3 else ""
        out.append((host_ip, int(parts[-2]), int(parts[-1]), proto or "tcp"))
    return out


def service_volumes(service: dict) -> list[dict]:
    """Each volume entry as {type, source, target, read_only}."""
    out = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            out.append(
                {
                    "type": entry["type"],
                    "source": entry.get("source", ""),
                    "target": entry["target"],
                    "read_only": bool(entry.get("read_only", False)),
                }
            )
            continue
        parts = str(entry).split(":")
        if len(parts) == 1:  # anonymous volume
            out.append({"type": "volume", "source": "", "target": parts[0], "read_only": False})
            continue
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
        out.append({"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")})
    return out


def _with(services: dict[str, dict], java_class: str) -> list[str]:
    return sorted(name for name, svc in services.items() if java_class in argv(svc))


@pytest.fixture(scope="module")
def master(services: dict[str, dict]) -> str:
    found = _with(services, MASTER_CLASS)
    assert len(found) == 1, f"expected one Spark master service, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def workers(services: dict[str, dict]) -> list[str]:
    return _with(services, WORKER_CLASS)


@pytest.fixture(scope="module")
def minio(services: dict[str, dict]) -> str:
    found = sorted(n for n, s in services.items() if str(s.get("image", "")).startswith("minio/minio"))
    assert len(found) == 1, f"expected one MinIO server service, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def spark_services(master: str, workers: list[str]) -> list[str]:
    return [master, *workers]


def minio_api_port(service: dict) -> int:
    args = argv(service)
    assert "server" in args, f"MinIO is not started as a server: {args}"
    address = option(args, "--address") or ":9000"
    return int(address.rsplit(":", 1)[1])


def test_parses_with_top_level_sections(compose: dict, raw: str) -> None:
    assert set(compose) >= {"services", "volumes"}
    assert "version" not in compose, "the top-level 'version' key is obsolete in the compose spec"
    unknown = {k for k in compose if not k.startswith("x-")} - {
        "name",
        "services",
        "volumes",
        "networks",
        "configs",
        "secrets",
        "include",
    }
    assert not unknown, f"unknown top-level keys {unknown}"


def test_dollar_signs_are_escaped_or_interpolations(raw: str) -> None:
    """A bare `$VAR` or `$@` would be interpolated by compose (usually to ''), breaking shell scripts."""
    leftovers = [
        (number, line.strip())
        for number, line in enumerate(raw.splitlines(), 1)
        if not line.lstrip().startswith("#") and "$" in _INTERPOLATION.sub("", line)
    ]
    assert not leftovers, f"unescaped '$' (write '$$'): {leftovers}"


def test_has_master_two_workers_and_minio(services, master, workers, minio) -> None:
    assert len(workers) == 2, f"expected exactly two Spark workers, found {workers}"
    assert master not in workers
    assert minio not in (master, *workers)


def test_createbuckets_makes_the_corpusforge_bucket_once_minio_is_healthy(services, minio) -> None:
    found = [n for n, s in services.items() if str(s.get("image", "")).startswith("minio/mc")]
    assert found == ["createbuckets"], f"expected one minio/mc service named createbuckets, found {found}"
    svc = services["createbuckets"]
    script = " ".join(argv(svc))
    assert re.search(r"\bmc mb\b.*\blocal/corpusforge\b", script), script
    assert re.search(rf"\bmc alias set local http://{re.escape(minio)}:{minio_api_port(services[minio])}\b", script)
    assert depends_on(svc).get(minio, {}).get("condition") == "service_healthy"
    assert str(svc.get("restart", "no")) == "no", "a one-shot job must not restart"


def test_every_depends_on_names_an_existing_service(services) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, svc in services.items():
        for dep, spec in depends_on(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep!r}"
            assert dep != name, f"{name} depends on itself"
            assert spec.get("condition", "service_started") in conditions, (name, dep, spec)
            if spec.get("condition") == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy; it has no healthcheck"


def test_depends_on_has_no_cycle(services) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        assert state.get(name) != "visiting", f"depends_on cycle: {' -> '.join([*path, name])}"
        if state.get(name) == "done":
            return
        state[name] = "visiting"
        for dep in depends_on(services[name]):
            if dep in services:  # unknown names are the previous test's business
                visit(dep, [*path, name])
        state[name] = "done"

    for name in services:
        visit(name, [])


def test_startup_order(services, master, workers, minio) -> None:
    for worker in workers:
        assert depends_on(services[worker]).get(master, {}).get("condition") == "service_healthy", worker
    assert minio in depends_on(services[master])


def test_host_ports_are_unique(services) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, svc in services.items():
        for _ip, host, _container, proto in published(svc):
            key = (host, proto)
            assert key not in seen, f"host port {host}/{proto} published by both {seen[key]} and {name}"
            seen[key] = name


def test_spark_and_minio_ports_pair_with_what_the_daemons_listen_on(services, master, workers, minio) -> None:
    m_args = argv(services[master])
    rpc, ui = int(option(m_args, "--port") or 7077), int(option(m_args, "--webui-port") or 8080)
    assert rpc == 7077
    m_ports = {container: host for _ip, host, container, _p in published(services[master])}
    assert m_ports.get(7077) == 7077, f"master must publish 7077 as 7077 (spark://localhost:7077): {m_ports}"
    assert m_ports.get(ui) == ui, f"master web UI {ui} not published on the same host port: {m_ports}"

    worker_uis = []
    for worker in workers:
        w_ui = int(option(argv(services[worker]), "--webui-port") or 8081)
        pairs = [(host, container) for _ip, host, container, _p in published(services[worker])]
        # SPARK_PUBLIC_DNS=localhost: the master UI links to localhost:<worker UI port>, so host == container
        assert pairs == [(w_ui, w_ui)], f"{worker} must publish exactly its web UI port {w_ui}: {pairs}"
        worker_uis.append(w_ui)
    assert len(set(worker_uis)) == len(worker_uis), f"workers share a web UI port {worker_uis}"
    assert not set(worker_uis) & {rpc, ui}

    mc_args = argv(services[minio])
    api, console = minio_api_port(services[minio]), int(option(mc_args, "--console-address").rsplit(":", 1)[1])
    pairs = {container: host for _ip, host, container, _p in published(services[minio])}
    assert pairs == {api: 9000, console: 9001}, pairs
    assert (api, console) == (9000, 9001)


def test_workers_point_at_the_master_service(services, master, workers) -> None:
    url = f"spark://{master}:7077"
    for worker in workers:
        args = argv(services[worker])
        i = args.index(WORKER_CLASS)
        assert args[i + 1] == url, f"{worker} registers with {args[i + 1]!r}, expected {url!r}"
        stray = re.findall(r"spark://[^\s'\"]+", " ".join(args) + " " + " ".join(env(services[worker]).values()))
        assert set(stray) == {url}, f"{worker} mentions other master URLs: {stray}"
    assert option(argv(services[master]), "--host") == master


def test_spark_hostnames_are_the_service_names(services, spark_services) -> None:
    for name in spark_services:
        svc, variables = services[name], env(services[name])
        assert svc.get("hostname") == name, f"{name}: hostname {svc.get('hostname')!r}"
        assert variables.get("SPARK_LOCAL_IP") == name, f"{name}: SPARK_LOCAL_IP must resolve to the container"
        assert variables.get("SPARK_LOCAL_HOSTNAME") == name
        if WORKER_CLASS in argv(svc):
            assert option(argv(svc), "--host") == name


def test_spark_services_reach_minio_over_s3(services, spark_services, minio) -> None:
    m_env, api = env(services[minio]), minio_api_port(services[minio])
    for name in spark_services:
        variables = env(services[name])
        endpoint = urlparse(variables.get("AWS_ENDPOINT_URL", ""))
        assert (endpoint.scheme, endpoint.hostname, endpoint.port) == ("http", minio, api), (name, endpoint)
        assert variables.get("AWS_ACCESS_KEY_ID") == m_env["MINIO_ROOT_USER"], name
        assert variables.get("AWS_SECRET_ACCESS_KEY") == m_env["MINIO_ROOT_PASSWORD"], name
        assert depends_transitively(services, name, minio), f"{name} may start before {minio}"
    assert len(m_env["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses root passwords shorter than 8 characters"


def depends_transitively(services: dict[str, dict], name: str, target: str) -> bool:
    """Whether `name` depends on `target` through other services."""
    stack, seen = list(depends_on(services[name])), set()
    while stack:
        dep = stack.pop()
        if dep == target:
            return True
        if dep not in seen:
            seen.add(dep)
            stack.extend(depends_on(services.get(dep, {})))
    return False


def test_spark_services_mount_the_repo_read_only_and_share_out(services, spark_services) -> None:
    outs = set()
    for name in spark_services:
        vols = service_volumes(services[name])
        repo = [v for v in vols if v["target"] == MOUNT]
        assert len(repo) == 1 and repo[0]["type"] == "bind", f"{name} does not bind-mount the repo at {MOUNT}"
        assert repo[0]["source"].rstrip("/") in (".", "./"), repo[0]
        assert repo[0]["read_only"], f"{name} mounts the repo writable"
        out = [v for v in vols if v["source"].rstrip("/") in ("./out", "out")]
        assert len(out) == 1 and not out[0]["read_only"], f"{name} lacks a writable ./out mount"
        outs.add(out[0]["target"])
        assert services[name].get("working_dir", MOUNT) == MOUNT
    assert len(outs) == 1, f"./out must be at the same path in every Spark container (driver and executors): {outs}"


def test_named_volumes_are_declared(compose, services) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, svc in services.items():
        for vol in service_volumes(svc):
            if vol["type"] == "volume" and vol["source"]:
                assert vol["source"] in declared, f"{name} uses undeclared volume {vol['source']!r}"
                used.add(vol["source"])
    assert used, "expected at least one named volume (MinIO data)"
    assert declared <= used, f"declared but unused volumes: {declared - used}"


def test_healthchecks(services, spark_services, minio) -> None:
    for name in [*spark_services, minio]:
        check = services[name].get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, (name, test)
    m_check = " ".join(services[spark_services[0]]["healthcheck"]["test"])
    ui = option(argv(services[spark_services[0]]), "--webui-port")
    assert f"localhost:{ui}" in m_check and "ALIVE" in m_check
    for worker in spark_services[1:]:
        check = " ".join(services[worker]["healthcheck"]["test"])
        ui = option(argv(services[worker]), "--webui-port")
        assert f"localhost:{ui}" in check or (check.endswith(f" {ui}") and "{sys.argv[1]}" in check), (worker, check)


def test_spark_image_runs_the_projects_python(compose, services, spark_services) -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    for name in spark_services:
        build = services[name].get("build")
        assert isinstance(build, dict) and "dockerfile_inline" in build, f"{name}: expected an inline build"
        base = re.search(r"^FROM\s+python:(\d+\.\d+)", build["dockerfile_inline"], re.M)
        assert base, f"{name}: the image is not built on a python:X.Y base"
        assert SpecifierSet(requires).contains(base.group(1) + ".0"), f"python {base.group(1)} vs {requires}"
        assert re.search(r"pyspark==\$\{SPARK_VERSION\}", build["dockerfile_inline"])
        assert build["args"]["SPARK_VERSION"].startswith("4."), "Spark 4.x expected"
        assert services[name]["image"].endswith(":" + build["args"]["SPARK_VERSION"])


def test_spark_services_install_the_project_then_exec_the_daemon(services, spark_services) -> None:
    for name in spark_services:
        svc = services[name]
        entry = as_args(svc["entrypoint"])
        assert entry[:2] == ["bash", "-c"], entry
        script = entry[2]
        assert f"tar -C {MOUNT}" in script and "--exclude=./.venv" in script
        assert re.search(r'pip install "/tmp/corpusforge-src\[\$\{CORPUSFORGE_EXTRAS\}\]"', script), script
        assert script.rstrip().endswith('exec "$@"'), "the entrypoint must hand over to the command"
        assert "web" in env(svc)["CORPUSFORGE_EXTRAS"].split(",")
        command = as_args(svc["command"])
        assert command[0] == "/opt/spark/bin/spark-class", command


def test_recipe_paths_resolve_inside_the_spark_containers(services, spark_services) -> None:
    """A driver started in spark-master (cwd /opt/corpusforge) passes absolute paths to the executors."""
    checked = 0
    for recipe in sorted((ROOT / "recipes").glob("*.yaml")):
        data = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict) or "inputs" not in data or "output" not in data:
            continue
        local = [p for p in data["inputs"] if "://" not in p]
        output = data["output"] if "://" not in data["output"] else None
        for name in spark_services:
            vols = service_volumes(services[name])
            cwd = services[name].get("working_dir", "/")

            def mount_of(path: str, vols=vols, cwd=cwd) -> dict | None:
                full = posixpath.normpath(posixpath.join(cwd, path))
                hits = [v for v in vols if full == v["target"] or full.startswith(v["target"].rstrip("/") + "/")]
                return max(hits, key=lambda v: len(v["target"]), default=None)

            for path in local:
                assert mount_of(path), f"{recipe.name}: input {path} is not mounted in {name}"
            if output:
                mount = mount_of(output)
                assert mount and not mount["read_only"], f"{recipe.name}: output {output} not writable in {name}"
            checked += 1
    if not checked:
        pytest.skip("no recipe with local inputs and output")
