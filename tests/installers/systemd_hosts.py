"""Throwaway Debian hosts that run systemd, for the Ansible tests: containers in the tests' private dockerd.

The image is a Debian rootfs built here with debootstrap from Debian's packages (minbase + systemd, dbus,
logind, sshd, python3, sudo, python3-apt), cached as a tar under the cache folder (``LCAI_TEST_CACHE``, else
``~/.cache/lcai-worker-tray-tests`` of the account's real home) and keyed by what goes into it; CI builds it once per run.

What makes systemd run as PID 1 here (cgroup v1 host, dockerd 20.10, root without CAP_SYS_RESOURCE, so
``--privileged`` is refused): ``CAP_SYS_ADMIN``, seccomp unconfined, ``/sys/fs/cgroup`` bound read-write, tmpfs
on /run and /run/lock, stop signal SIGRTMIN+3. Units that would touch the shared kernel or the machine's clock
(sysctl, modules, binfmt, timesyncd, …) are masked in the image. The hosts share the machine's network
namespace (the dockerd has no bridge): each sshd listens on its own loopback port, Ansible connects with ssh.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
MIRROR = os.environ.get("LCAI_DEBIAN_MIRROR", "http://deb.debian.org/debian")
INCLUDE = ["systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssh-server", "python3", "python3-apt", "sudo"]
MASKED = ["systemd-sysctl.service", "systemd-modules-load.service", "systemd-remount-fs.service", "getty@tty1.service",
          "console-getty.service", "serial-getty@.service", "systemd-firstboot.service", "sys-kernel-config.mount",
          "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "sys-fs-fuse-connections.mount",
          "systemd-timesyncd.service", "systemd-binfmt.service", "proc-sys-fs-binfmt_misc.automount",
          "systemd-journald-audit.socket", "systemd-hwdb-update.service", "systemd-udevd.service",
          "systemd-random-seed.service"]
IMAGE = "lcai-test/debian-systemd"


def cache_dir() -> Path:
    if os.environ.get("LCAI_TEST_CACHE"):
        return Path(os.environ["LCAI_TEST_CACHE"])
    import pwd

    # the account's real home: scripts/test.sh gives the tests a throw-away HOME
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".cache" / "lcai-worker-tray-tests"


def rootfs_key() -> str:
    return hashlib.sha256(repr((SUITE, MIRROR, INCLUDE, MASKED)).encode()).hexdigest()[:12]


def rootfs_tar() -> tuple[Path, float | None]:
    """The cached rootfs tar (built with debootstrap when missing); (path, build seconds or None if cached)."""
    tar = cache_dir() / f"debian-{SUITE}-systemd-{rootfs_key()}.tar"
    if tar.exists():
        return tar, None
    tar.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(dir=tar.parent) as tmp:
        root = Path(tmp) / "rootfs"
        r = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(INCLUDE)}", SUITE, str(root),
                            MIRROR], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {(r.stdout + r.stderr)[-3000:]}")
        for unit in MASKED:
            link = root / "etc/systemd/system" / unit
            link.unlink(missing_ok=True)
            link.symlink_to("/dev/null")
        (root / "etc/machine-id").write_text("")  # a new id per container, made at boot
        (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
        part = tar.with_suffix(".part")
        subprocess.run(["tar", "-C", str(root), "-cf", str(part), "."], check=True, timeout=600)
        part.rename(tar)
    return tar, round(time.monotonic() - t0, 1)


def import_image(client, tar: Path) -> str:
    """Import the rootfs as an image (once per dockerd); its reference."""
    ref = f"{IMAGE}:{rootfs_key()}"
    if not client.images.list(name=ref):
        client.api.import_image_from_file(str(tar), repository=IMAGE, tag=rootfs_key(),
                                          changes=['CMD ["/sbin/init"]'])
    return ref


@dataclass
class Host:
    name: str
    port: int
    container: object

    def sh(self, script: str, user: str | None = None, timeout: float = 60) -> tuple[int, str]:
        """Run ``script`` with /bin/sh in the host (as ``user``, with that user's systemd runtime dir)."""
        if user:
            script = (f"runuser -u {user} -- env XDG_RUNTIME_DIR=/run/user/$(id -u {user}) "
                      f"sh -c {_quote(script)}")
        r = self.container.exec_run(["sh", "-c", script], demux=False)  # type: ignore[attr-defined]
        return r.exit_code, (r.output or b"").decode(errors="replace")


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def start_host(client, ref: str, name: str, port: int, pubkey: str, extra_files: dict[str, Path]) -> Host:
    """Boot one host and make it reachable: sshd on 127.0.0.1:``port`` with ``pubkey`` for root."""
    c = client.containers.run(
        ref, name=name, hostname=name, detach=True, network_mode="host", cap_add=["SYS_ADMIN"],
        security_opt=["seccomp=unconfined"], volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
        tmpfs={"/run": "", "/run/lock": ""}, stop_signal="SIGRTMIN+3", labels={"lcai.test": "ansible-host"})
    host = Host(name, port, c)
    deadline = time.monotonic() + 60
    state = ""
    while time.monotonic() < deadline:
        _, state = host.sh("systemctl is-system-running 2>/dev/null || true")
        if state.strip() in ("running", "degraded"):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"{name}: systemd did not come up ({state.strip()}): {c.logs()[-2000:]!r}")
    for dest, src in extra_files.items():
        _put(c, src, dest)
    conf = f"Port {port}\nListenAddress 127.0.0.1\nPasswordAuthentication no\n"
    code, out = host.sh(f"mkdir -p /root/.ssh && chmod 700 /root/.ssh && printf '%s\\n' {_quote(pubkey)} "
                        f"> /root/.ssh/authorized_keys && printf {_quote(conf)} > /etc/ssh/sshd_config.d/test.conf "
                        "&& systemctl restart ssh")
    if code != 0:
        raise RuntimeError(f"{name}: sshd setup failed: {out}")
    return host


def _put(container, src: Path, dest: str) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(str(src), arcname=os.path.basename(dest))
    container.put_archive(os.path.dirname(dest), buf.getvalue())


def remove_hosts(client, hosts: list[Host]) -> None:
    for h in hosts:
        try:
            h.container.remove(force=True)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - best effort at teardown; the dockerd goes with the run
            pass


def ssh_keypair(folder: Path) -> tuple[Path, str]:
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30)
    return key, (folder / "id_ed25519.pub").read_text().strip()


def have_tools() -> str | None:
    """What is missing to build and reach the hosts, or None."""
    for tool in ("debootstrap", "ssh", "ssh-keygen", "tar"):
        if shutil.which(tool) is None:
            return tool
    if os.geteuid() != 0:
        return "root (debootstrap)"
    return None
