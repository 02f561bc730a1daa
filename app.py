"""Escalator's composition root: settings → policy → store → Bolt app → server. Nothing else."""

from escalator.server import serve_http, serve_socket_mode
from escalator.store.database import Store
from escalator.wiring import build_worker, configure_logging, load_configuration, worker_factory


def main() -> None:
    configure_logging()
    settings, policy = load_configuration()
    Store(settings.DATABASE_URL).migrate()  # once, before any worker starts
    if settings.socket_mode:
        worker = build_worker(settings, policy)
        serve_socket_mode(settings, worker.bolt, worker.close)
    else:
        serve_http(settings, worker_factory(settings, policy))


if __name__ == "__main__":
    main()
