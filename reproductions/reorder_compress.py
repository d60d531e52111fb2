"""Reorder-DCT compression of a trained .keras model: `dct-keras compress MODEL.keras [options]`."""

from _entry import main

if __name__ == "__main__":
    main("compress")
