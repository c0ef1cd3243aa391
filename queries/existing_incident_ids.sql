SELECT incident_id FROM incidents WHERE list_contains($ids, incident_id)
