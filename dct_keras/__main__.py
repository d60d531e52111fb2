"""``python -m dct_keras``: the command line (`dct_keras.experiment.commands`)."""

from dct_keras.experiment.commands import main

if __name__ == "__main__":
    main()
