"""A throwaway OctoPrint server on 127.0.0.1 with its Virtual Printer, for the backend tests.

A temporary basedir gets config.yaml (first run done, no online checks, Virtual Printer on
with no simulated errors), a user and its application key (data/appkeys/keys.yaml), before
`octoprint serve --iknowwhatimdoing` (needed as root) starts on a free port.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

USER = "printmed"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_basedir(basedir: Path, api_key: str) -> None:
    config = {
        "server": {
            "firstRun": False,
            "onlineCheck": {"enabled": False},
            "pluginBlacklist": {"enabled": False},
        },
        "serial": {"port": "VIRTUAL", "baudrate": 115200, "autoconnect": False},
        "plugins": {
            "virtual_printer": {
                "enabled": True,
                "simulated_errors": [],
                "sendWait": False,
                "ambientTemperature": 21.0,
            },
            "tracking": {"enabled": False},
            "announcements": {"enabled_channels": []},
            "softwareupdate": {"ignore_throttled": True},
        },
    }
    users = {
        USER: {
            "active": True,
            "password": "not-used-the-api-key-is",
            "groups": ["admins", "users"],
            "permissions": [],
            "apikey": None,
            "settings": {},
        }
    }
    keys = {USER: [{"app_id": "printmed-tests", "api_key": api_key}]}
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(yaml.safe_dump(config))
    (basedir / "users.yaml").write_text(yaml.safe_dump(users))
    (basedir / "data" / "appkeys").mkdir(parents=True, exist_ok=True)
    (basedir / "data" / "appkeys" / "keys.yaml").write_text(yaml.safe_dump(keys))


class OctoPrintServer:
    """`with OctoPrintServer(tmp) as server:` → `server.url`, `server.api_key`; stopped after."""

    def __init__(self, basedir: Path, start_timeout_s: float = 90.0) -> None:
        self.basedir = basedir
        self.api_key = secrets.token_hex(16).upper()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start_timeout_s = start_timeout_s

    def __enter__(self) -> OctoPrintServer:
        _write_basedir(self.basedir, self.api_key)
        command = [sys.executable, "-m", "octoprint", "serve", "--iknowwhatimdoing"]
        command += ["--basedir", str(self.basedir), "--host", "127.0.0.1"]
        command += ["--port", str(self.port)]
        self.log = open(self.basedir / "server.log", "wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        until = time.monotonic() + self.start_timeout_s
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise RuntimeError(f"OctoPrint exited; see {self.basedir / 'server.log'}")
            try:
                answer = requests.get(
                    f"{self.url}/api/version", headers={"X-Api-Key": self.api_key}, timeout=2
                )
                if answer.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise RuntimeError(f"OctoPrint did not start in {self.start_timeout_s:g} s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
