#!/usr/bin/env python
import os
import sys


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "callcontrol":
        # The call-control process runs on gevent (greenswitch); patch before anything else
        # imports sockets. Web and worker processes never load gevent.
        from gevent import monkey

        monkey.patch_all()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
