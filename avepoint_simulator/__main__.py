"""`python -m avepoint_simulator`: serve the simulated AvePoint API until SIGTERM."""

import sys

from avepoint_simulator.simulator import main

sys.exit(main())
