SELECT count(*) FROM {{ident:table}}
