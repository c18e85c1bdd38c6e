"""The app loop on top of the library: the run loop, the live feed, signals, doctor."""
