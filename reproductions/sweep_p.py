"""keras-tuner sweep of the switch-off p of a DCT-Conv config: `dct-keras sweep CONFIG [options]`."""

from _entry import main

if __name__ == "__main__":
    main("sweep")
