"""`python -m throwaway_family`, like every family's entry point."""

from platform_core.server import run_service
from throwaway_family.family import FAMILY

if __name__ == "__main__":
    run_service(FAMILY)
