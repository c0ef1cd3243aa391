SELECT min(occurred_at), max(occurred_at), max(ingested_at), count(*) FROM incidents i WHERE {{access:incident:i}}
