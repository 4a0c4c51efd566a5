import sys

from hydropy.cli import main

sys.exit(main())
