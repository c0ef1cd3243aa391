-- Forget patrol positions reported before $before (the service keeps --patrol-keep hours).
DELETE FROM patrols WHERE reported_at < $before
