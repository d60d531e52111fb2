"""ctnet_h265.txt (CTNet-18 on Imagenette, exported as H.265): `dct-keras run ctnet_imagenette [options]`."""

from _entry import main

if __name__ == "__main__":
    main("run", "ctnet_imagenette")
