"""Release artifacts (`make dist`): the sdist, the edgeface wheel and the edgeface-models wheel, reproducibly."""
