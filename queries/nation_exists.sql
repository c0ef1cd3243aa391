SELECT count(*) FROM nations WHERE iso3 = $iso3
