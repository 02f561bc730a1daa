"""Escalator's composition root: settings → policy → store → Bolt app → server. Nothing else."""

from escalator.server import serve_http, serve_socket_mode
from escalator.wiring import build_worker, configure_logging, load_configuration, prepare_start


def main() -> None:
    configure_logging()
    settings, policy = load_configuration()
    prepare_start(settings, policy)  # token, migrations and go-live checks, once, before any worker starts
    if settings.socket_mode:
        serve_socket_mode(settings, build_worker(settings, policy))
    else:
        serve_http(settings, policy)


if __name__ == "__main__":
    main()
