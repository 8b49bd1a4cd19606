"""`python -m goleak`: the same as the goleak command."""
from goleak.cli import entry_point

if __name__ == "__main__":
    entry_point()
