import sys

from vcop_lab.cli import main

sys.exit(main())
