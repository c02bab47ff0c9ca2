"""``python -m tessera`` and the ``tessera`` command.

``tessera run`` serves on gevent: the standard library is patched for it here, before anything
else is imported, so that every thread Tessera and the app start is a greenlet and every socket
cooperative (patching later leaves locks and sockets made before it unpatched).
"""

import sys


def main() -> None:
    if sys.argv[1:2] == ["run"] or sys.argv[1:3] == ["fragment", "serve"]:
        import gevent
        from gevent import monkey

        gevent.config.track_greenlet_tree = False  # 2 KiB a page of bookkeeping nothing here reads
        monkey.patch_all()
    from .cli import main as command

    command()


if __name__ == "__main__":
    main()
