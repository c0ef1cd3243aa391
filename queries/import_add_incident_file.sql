-- Register a completed Parquet file of new incidents ($file, in the data directory, exactly the
-- incidents table's columns) with the incidents table, in the import's transaction; the lake takes
-- the file as it is (borderwatch/importers/lakefiles.py). Only when no staged id is stored yet
-- (import_staged_stored_ids.sql), as for insert_incidents_unseen.sql.
CALL ducklake_add_data_files('bw', 'incidents', $file)
