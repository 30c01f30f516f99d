"""`python -m bench`: the whole benchmark (bench/all.py), as `make bench` runs it."""

from bench.all import main

raise SystemExit(main())
