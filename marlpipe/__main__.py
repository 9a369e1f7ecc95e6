"""``python -m marlpipe``: the ``marlpipe`` command line."""

from marlpipe.cli import main

if __name__ == "__main__":
    main()
