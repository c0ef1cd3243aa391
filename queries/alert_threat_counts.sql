-- Incidents of the rule's threat in its area (nation or agreement, through the filter) that the rule's
-- nation may see: in the window, and in the baseline period before it.
SELECT count(*) FILTER (WHERE i.occurred_at >= $win_start AND i.occurred_at < $win_end) AS n,
       count(*) FILTER (WHERE i.occurred_at >= $base_start AND i.occurred_at < $win_start) AS n_base,
       list(i.incident_id ORDER BY i.occurred_at DESC) FILTER (WHERE i.occurred_at >= $win_start
                                                               AND i.occurred_at < $win_end)[1:20] AS ids
FROM incidents i
WHERE {{filter_notime:incident:i}} AND i.occurred_at >= $base_start AND i.occurred_at < $win_end
