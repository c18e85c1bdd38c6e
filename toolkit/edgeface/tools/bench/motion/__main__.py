import sys

from edgeface.tools.bench.motion.run import main

sys.exit(main())
