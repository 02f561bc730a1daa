"""Escalator's composition root: settings → policy → store → processes. Nothing else.

HTTP mode runs the web process and the delivery process under one supervisor; Socket Mode, one process
that does both. A deployment that runs them apart uses `escalator web` and `escalator deliver`.
"""

import sys

from escalator.server import serve_socket_mode
from escalator.supervisor import supervise_http
from escalator.wiring import build_worker, configure_logging, load_configuration, prepare_start


def main() -> None:
    configure_logging()
    settings, policy = load_configuration()
    policy = prepare_start(
        settings, policy
    )  # token, migrations and go-live checks, once, before any process starts
    if settings.socket_mode:
        serve_socket_mode(settings, build_worker(settings, policy))
    else:
        sys.exit(supervise_http(settings))


if __name__ == "__main__":
    main()
