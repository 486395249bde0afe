"""Run uvicorn on 127.0.0.1 over a test catalogue with the tiny world's fake VLM.

    python fake_server.py WORKDIR PORT_FILE

Binds a free port itself (no race), writes it to PORT_FILE once listening, serves until killed.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "apps"))


def main() -> None:
    import uvicorn
    from tiny_world import FakeVLM

    from clip2nerf.catalogue import Catalogue, ViewSettings
    from clip2nerf.serve import create_app, load_service_models
    from clip2nerf.utils.io import atomic_write_text

    workdir, port_file = Path(sys.argv[1]), Path(sys.argv[2])
    models = load_service_models(Catalogue(workdir), vlm=FakeVLM())
    app = create_app(workdir, models=models, view_settings=ViewSettings(48, 32))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))

    def announce() -> None:
        while not server.started:
            time.sleep(0.02)
        atomic_write_text(port_file, str(sock.getsockname()[1]))

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
