"""``python -m nca`` (also ``torchrun -m nca ...``)."""

from nca.cli import main

if __name__ == "__main__":
    main()
