-- Empty a reference table before it is reloaded.
DELETE FROM {{ident:table}}
