"""The gunicorn worker and logger that gunicorn.conf.py names (their end-to-end answers are tested in
tests/contract/test_error_shape.py against a real gunicorn)."""

import socket

from gunicorn.config import Config

from registry_project.gunicorn_workers import RegistryLogger, _cork


def test_cork_holds_and_releases_a_tcp_socket():
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()
        with client, accepted:
            _cork(accepted, True)
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 1
            accepted.sendall(b"head")
            _cork(accepted, False)
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK) == 0
            client.settimeout(5)
            assert client.recv(16) == b"head"
    _cork(accepted, True)  # closed: nothing to hold, no error


def test_registry_logger_builds_no_access_lines_unless_asked():
    cfg = Config()
    cfg.set("logconfig_dict", {"version": 1, "disable_existing_loggers": False})
    assert RegistryLogger(cfg).access_log_enabled is False  # gunicorn's own Logger says True here
    cfg.set("accesslog", "-")
    assert RegistryLogger(cfg).access_log_enabled is True
