import sys

from artgenre.cli import main

sys.exit(main())
