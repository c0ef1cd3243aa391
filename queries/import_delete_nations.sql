-- Remove nation outlines an import replaces.
DELETE FROM nations WHERE list_contains($codes, iso3)
