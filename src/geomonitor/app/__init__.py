"""What people use: the ``geomonitor`` command line (:mod:`.cli`), the demo
(:mod:`.demo`) and terminal tables (:mod:`.tables`). Reads the store and the model; never
changes what the engine decides."""
