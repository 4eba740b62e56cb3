"""``python -m reprdynamics.cli``: the ``reprdynamics`` command."""

from reprdynamics.cli import main

if __name__ == "__main__":
    main()
