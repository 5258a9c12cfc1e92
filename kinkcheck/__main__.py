import sys

from kinkcheck.cli import main

sys.exit(main())
