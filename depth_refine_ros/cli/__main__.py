"""``python -m depth_refine_ros.cli``: the same as the ``depth-refine`` console script."""
import sys

from depth_refine_ros.cli.main import main

sys.exit(main())
