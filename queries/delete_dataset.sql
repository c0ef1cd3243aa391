-- Remove every row of one dataset (e.g. 'scenario') from a layer table.
DELETE FROM {{ident:table}} WHERE dataset = $dataset
