"""A throwaway seventh family (tests/platform/test_seventh_family.py): a servicer and its
declaration, added to the registry through PARTNERLYTICS_EXTRA_FAMILIES."""
