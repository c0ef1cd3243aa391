SELECT iso3, name FROM nations ORDER BY name
