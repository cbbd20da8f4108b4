"""Sandbox launcher: run as root by the base interpreter (``python -I -S _launch.py SPEC``), stdlib only.

It reads its spec, isolates itself, drops to the sandbox uid and execs the program, so no Python state of the
caller (threads, locks, open models) is inherited by the untrusted code. Steps: a new network namespace (no
interface but a downed loopback) and mount namespace; every mount re-bound read-only; the project, the data
dirs and home directories covered by empty read-only tmpfs (the interpreter's prefix bound back read-only);
a fresh size-capped tmpfs on /tmp owned by the sandbox uid as the only writable place; rlimits; a scrubbed
env; setgid/setuid to an unprivileged uid of its own. Where namespaces are refused (no root, a locked-down
kernel) it falls back to rlimits and a sitecustomize that refuses sockets, under the caller's own uid; the
verdict says which isolation ran. Exit 97 with a line on stderr when the sandbox itself cannot be set up.
"""

import contextlib
import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
SETUP_FAILED = 97

BLOCK_SOCKETS = '''
import socket as _s
class _Refused(_s.socket):
    def __init__(self, *a, **k):
        raise PermissionError("network access is disabled in the sandbox")
_s.socket = _Refused
_s.create_connection = lambda *a, **k: (_ for _ in ()).throw(PermissionError("network access is disabled in the sandbox"))
'''


def fail(message: str) -> None:
    os.write(2, f"sandbox setup failed: {message}\n".encode())
    os._exit(SETUP_FAILED)


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    libc = ctypes.CDLL(None, use_errno=True)

    def enc(s):
        return None if s is None else s.encode()

    def mount(source, target, fstype, flags, data=None) -> None:
        if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
            raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")

    uid, gid = spec["uid"], spec["gid"]
    root = os.geteuid() == 0
    isolation = "basic"
    if spec["isolation"] != "basic" and root and libc.unshare(CLONE_NEWNS | CLONE_NEWNET) == 0:
        isolation = "namespaces"
    elif spec["isolation"] == "namespaces":
        fail("unshare(CLONE_NEWNS|CLONE_NEWNET) refused: " + os.strerror(ctypes.get_errno()))
    os.write(spec["report_fd"], isolation.encode())
    os.close(spec["report_fd"])

    if isolation == "namespaces":
        try:
            exposed = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in spec["expose"] if os.path.isdir(p)}
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            with open("/proc/self/mountinfo") as f:
                points = [(line.split()[4].replace("\\040", " "), line.split()[5].split(",")) for line in f]
            for point, options in points:  # read-only everywhere; /proc and /sys stay as they are
                if point.startswith(("/proc", "/sys")):
                    continue
                keep = (MS_NODEV if "nodev" in options else 0) | (MS_NOEXEC if "noexec" in options else 0)
                with contextlib.suppress(OSError):  # a mount hidden under another one: covered by its parent
                    mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | keep)
            for hidden in spec["hide"]:
                mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
                for path, fd in exposed.items():
                    if path.startswith(hidden.rstrip("/") + "/"):
                        os.makedirs(path, exist_ok=True)
                        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
                        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
                mount(None, hidden, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
            workdir = "/tmp"
            mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV,
                  f"size={spec['workdir_bytes']},mode=700,uid={uid},gid={gid}")
        except OSError as exc:
            fail(str(exc))
    else:
        workdir = spec["fallback_dir"]
        spec["files"]["sitecustomize.py"] = BLOCK_SOCKETS
        spec["env"]["PYTHONPATH"] = workdir

    for name, content in spec["files"].items():
        path = os.path.join(workdir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        if isolation == "namespaces":
            os.chown(path, uid, gid)
    spec["env"].update(HOME=workdir, TMPDIR=workdir, PWD=workdir)
    os.chdir(workdir)

    limits = spec["limits"]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_s"] + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["output_bytes"], limits["output_bytes"]))
    if isolation == "namespaces":  # RLIMIT_NPROC counts per uid: only meaningful for the sandbox's own uid
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    argv = spec["argv"]
    if isolation == "basic":  # -I would drop the PYTHONPATH that loads the socket guard
        argv = [argv[0], "-s", *[a for a in argv[1:] if a != "-I"]]
    os.execve(argv[0], argv, spec["env"])


if __name__ == "__main__":
    main()
