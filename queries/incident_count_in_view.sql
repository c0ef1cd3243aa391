SELECT count(*) FROM incidents i
WHERE {{filter:incident:i}} AND i.lon BETWEEN $vw AND $ve AND i.lat BETWEEN $vs AND $vn
