-- Incidents per time bucket (day / week / month, weeks start on Monday) and threat type.
SELECT date_trunc('{{ident:bucket}}', i.occurred_at) AS bucket, i.threat_type, count(*) AS n
FROM incidents i
WHERE {{filter:incident:i}}
GROUP BY ALL
ORDER BY bucket, i.threat_type
