"""Built-in sampling schemes (package data: the .sched files beside this one)."""
