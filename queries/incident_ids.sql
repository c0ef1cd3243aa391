-- Ids of the incidents a filter selects (tests, exports' manifests).
SELECT i.incident_id FROM incidents i WHERE {{filter:incident:i}}
