import sys

from edgeface.tools.bench.scaling.run import main

sys.exit(main())
