"""The file importer, as stages read in order (``pipeline`` runs them; ``borderwatch.importer`` is the
public entry point):

1. read: ``sources`` (one reader per format) behind ``safety`` (one module of checks per format)
   and ``delimited`` (the strict CSV reader);
2. map: ``mapping`` (which column feeds which field; the ACLED / IOM presets) and ``values``
   (dates with their precision, numbers, nation codes, vocabularies);
3. reproject: ``reproject`` (geometries checked and converted to WGS 84);
4. validate: ``targets`` (one module per Borderwatch layer, listed in ``targets.TARGETS``);
5. assemble: ``assemble`` (stable ids, duplicates);
6. commit: the target's ``write``, one store transaction.

``report`` is the import report; ``borderwatch.cli.imports`` the ``borderwatch import`` command.
"""
