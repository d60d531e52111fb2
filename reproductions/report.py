"""Tables and plots of a results folder (any method): `dct-keras report RESULTS [options]`."""

from _entry import main

if __name__ == "__main__":
    main("report")
