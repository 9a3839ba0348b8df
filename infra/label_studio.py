"""A local Label Studio as a child process, from its own virtualenv.

``scripts/install_label_studio.sh`` installs Label Studio into ``.venv-labelstudio`` (its
pins never touch ours). :class:`LocalLabelStudio` starts it on a free loopback port with
SQLite under ``root`` and a known user and legacy API token, non-interactively
(``label-studio start --username --password --user-token --enable-legacy-api-token``), for
the tests and the benchmark. It dies with its parent (PDEATHSIG). SSRF protection is off
because the bridge's webhook receiver listens on loopback, which Label Studio's default
banned subnets include. Production runs Label Studio as its own service (docs/annotation.md).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Final

import httpx

from infra.processes import LOOPBACK, ServiceProcess, free_port
from retrain.annotation.exceptions import AnnotationError

#: Label Studio's own virtualenv at the repository root (scripts/install_label_studio.sh).
LABEL_STUDIO_VENV: Final = Path(__file__).resolve().parents[1] / ".venv-labelstudio"
LABEL_STUDIO_BIN: Final = LABEL_STUDIO_VENV / "bin" / "label-studio"
#: It starts in about a minute (migrations on an empty SQLite); give a loaded host three.
STARTUP_TIMEOUT_S: Final = 300.0
#: The user the server is started with (its token is random per start).
USERNAME: Final = "annotator@leakguard.test"


class LocalLabelStudio(ServiceProcess):
    """``label-studio start`` under ``root``; ``url`` and ``token`` once started."""

    _name = "Label Studio"
    _error = AnnotationError

    def __init__(self, *, root: Path, binary: Path = LABEL_STUDIO_BIN) -> None:
        if not binary.exists():
            raise AnnotationError(
                f"Label Studio is not installed at {binary}; run scripts/install_label_studio.sh"
            )
        self.root = root
        self.binary = binary
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.token = secrets.token_hex(20)
        self.password = secrets.token_urlsafe(12)

    def start(self) -> None:
        """Start Label Studio and wait until its API answers with our token."""
        data_dir = self.root / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            "SSRF_PROTECTION_ENABLED": "false",
            "LATEST_VERSION_CHECK": "false",
            "CONVERTER_DOWNLOAD_RESOURCES": "false",
            "SECRET_KEY": secrets.token_hex(32),
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        }
        self._spawn(
            [
                str(LABEL_STUDIO_BIN),
                "start",
                "--no-browser",
                "--data-dir",
                str(data_dir),
                "--internal-host",
                LOOPBACK,
                "--port",
                str(self.port),
                "--username",
                USERNAME,
                # One argument: a URL-safe password may start with "-", which argparse
                # would take for an option if it came as the next argument.
                f"--password={self.password}",
                "--user-token",
                self.token,
                "--enable-legacy-api-token",
                "--log-level",
                "WARNING",
            ],
            log_path=self.root / "label-studio.log",
            cwd=self.root,
            env=env,
        )
        self._wait_until_ready(
            self._answers,
            timeout_s=STARTUP_TIMEOUT_S,
            log_hint=f"see {self.root / 'label-studio.log'}",
            poll_s=1.0,
            retry_on=(httpx.TransportError,),
        )

    def _answers(self) -> bool:
        answer = httpx.get(
            f"{self.url}/api/version",
            headers={"Authorization": f"Token {self.token}"},
            timeout=5,
        )
        return answer.status_code == 200

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API as the started user (what an annotator's browser does)."""
        answer = httpx.request(
            method,
            f"{self.url}{path}",
            headers={"Authorization": f"Token {self.token}"},
            timeout=60,
            **kwargs,
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None
