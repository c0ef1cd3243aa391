-- How many of the given nations are in the store (an import replaces their outline).
SELECT count(*) FROM nations WHERE list_contains($codes, iso3)
