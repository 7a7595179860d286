"""`python -m omasgan ...` = the `omasgan` command."""
import sys

from omasgan.cli import main

sys.exit(main())
