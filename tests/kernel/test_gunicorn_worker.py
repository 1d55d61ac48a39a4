"""The gunicorn worker and logger that gunicorn.conf.py names (their end-to-end answers are tested in
tests/contract/test_error_shape.py against a real gunicorn)."""

import selectors
import socket
from concurrent import futures

from gunicorn.config import Config
from gunicorn.workers.gthread import TConn

from registry_project.gunicorn_workers import RegistryLogger, RegistryThreadWorker, _cork


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


def test_a_stopping_worker_does_not_take_new_connections_when_a_request_finishes():
    """Once a worker stops (SIGTERM, max_requests), gunicorn stops listening and finishes what it holds within
    graceful_timeout; a finished request must not make it listen again, or it keeps taking connections it will
    cut off at the end of the grace period (and that a new worker would have served)."""
    cfg = Config()
    cfg.set("threads", 2)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        worker = RegistryThreadWorker(0, 0, [listener], None, 30, cfg, None)
        worker.poller = selectors.DefaultSelector()
        worker.method_queue.init()
        client = socket.create_connection(listener.getsockname())
        accepted, addr = listener.accept()
        try:
            worker.set_accept_enabled(True)
            worker.nr_conns, worker.busy = 1, 1
            worker.set_accept_enabled(False)
            worker.alive = False  # gunicorn's ThreadWorker.run: stop listening, finish what is held
            done = futures.Future()
            done.set_result(False)  # the request's answer said "Connection: close"
            client.close()  # so that the graceful close finds the peer gone at once
            worker.finish_request(TConn(cfg, accepted, addr, listener.getsockname()), done)
            assert worker._accepting is False
            assert listener not in [key.fileobj for key in worker.poller.get_map().values()]
        finally:
            client.close()
            worker.poller.close()
            worker.method_queue.close()
