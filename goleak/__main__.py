"""`python -m goleak`: the same as the goleak command."""
from goleak.cli import run

if __name__ == "__main__":
    run()
