import sys

from nlspn_ros.cli import main

sys.exit(main())
