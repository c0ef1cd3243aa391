-- Which agreements cover which border segments: 'internal' when both nations are members,
-- 'external' when exactly one is.
INSERT INTO segment_agreements
SELECT s.segment_id, m.agreement_id,
       CASE WHEN count(DISTINCT m.iso3) = 2 THEN 'internal' ELSE 'external' END AS scope
FROM segments s
JOIN agreement_members m ON m.iso3 = s.nation_a OR m.iso3 = s.nation_b
GROUP BY s.segment_id, m.agreement_id
