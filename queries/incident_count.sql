-- How many incidents a filter selects (the analysis table's total).
SELECT count(*) FROM incidents i WHERE {{filter:incident:i}}
